// A household with every kind of X-Sense device the bridge shows beyond the smoke, CO and heat alarms
// (docs/protocols/xsense.md §5.1): an SBS50 with an alarm listener of each model, thermo-hygrometers
// and water leak sensors, a smoke detector and a CO detector to be heard; the Wi-Fi thermo-hygrometer
// and water sensor, and a Wi-Fi smoke alarm that sleeps between check-ins (in no room). The rest sit in the
// app's rooms. Serials are fixed so tests can name them.
import type { SimHouseSpec } from "./index.ts";

export const HOUSEHOLD = {
  station: "13B96458",
  smoke: "00000001",
  co: "00000002",
  listener: "00000021",
  listener100: "00000022",
  climate: "00000031",
  climate0A: "00000032",
  climate0B: "00000033",
  leak: "00000041",
  leak0A: "00000042",
  wifiClimate: "C0C00001",
  wifiLeak: "B0B00001",
  sleeper: "E0E00001",
} as const;

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

export function everyDetectorHouses(): SimHouseSpec[] {
  const h = HOUSEHOLD;
  return [
    {
      name: "Home",
      region: "eu-central-1",
      stations: [
        {
          sn: h.station,
          category: "SBS50",
          name: "Hall base",
          room: "Hall",
          devices: [
            { sn: h.smoke, type: "XS0B-MR", name: "Kitchen smoke", room: "Kitchen" },
            { sn: h.co, type: "XC0C-MR", name: "Boiler CO", room: "Utility room" },
            { sn: h.listener, type: "SAL51", name: "Hall listener", room: "Hall" },
            { sn: h.listener100, type: "SAL100", name: "Cellar listener", room: "Cellar" },
            { sn: h.climate, type: "STH51", name: "Living climate", room: "Living room" },
            { sn: h.climate0A, type: "STH0A", name: "Bedroom climate", room: "Bedroom" },
            { sn: h.climate0B, type: "STH0B", name: "Attic climate", room: "Attic" },
            { sn: h.leak, type: "SWS51", name: "Washer leak", room: "Utility room" },
            { sn: h.leak0A, type: "SWS0A", name: "Sink leak", room: "Kitchen" },
          ],
        },
        { sn: h.wifiClimate, category: "STH0C", name: "Garage climate", room: "Garage" },
        { sn: h.wifiLeak, category: "SWS0B", name: "Boiler leak", room: "Utility room" },
        // Asleep since its last check-in two hours ago (docs/protocols/xsense.md §5.6).
        {
          sn: h.sleeper,
          category: "XS0E-iR",
          name: "Shed smoke",
          online: false,
          state: { online: "0", onlineTime: stamp(Date.now() - 2 * 3_600_000) },
        },
      ],
    },
  ];
}
