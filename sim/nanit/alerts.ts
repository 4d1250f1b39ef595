// The simulated camera's alert pushes (docs/protocols/nanit.md §6.4): a PUT_SENSOR_DATA with one
// SOUND / MOTION / CRY entry, `is_alert` set, the camera's counter in `timestamp` and Unix milliseconds in
// `timestamp_real`, sent only to sessions that enabled that kind in `sensor_data_transfer` (a session that
// asked for nothing, or went silent, gets nothing).
import type { RequestPayload, SensorDataTransferMsg } from "../../src/drivers/nanit/proto.ts";

export type SimAlertKind = "motion" | "sound" | "cry";

interface AlertConn {
  cameraUid: string;
  silent: boolean;
  transfer: SensorDataTransferMsg;
}

const SENSOR_TYPE = { motion: "MOTION", sound: "SOUND", cry: "CRY" } as const;

/** The camera's own counter (a small number, not Unix time, as in the logs the notes quote). */
let counter = 1_472_000;

export function sendAlert<C extends AlertConn>(
  conns: C[],
  cameraUid: string,
  kind: SimAlertKind,
  at: number,
  send: (conn: C, payload: RequestPayload) => void,
): number {
  const payload: RequestPayload = {
    sensor_data: [{ sensor_type: SENSOR_TYPE[kind], is_alert: true, timestamp: ++counter, timestamp_real: at }],
  };
  let sent = 0;
  for (const conn of conns) {
    if (conn.cameraUid !== cameraUid || conn.silent || conn.transfer[kind] !== true) continue;
    send(conn, payload);
    sent++;
  }
  return sent;
}
