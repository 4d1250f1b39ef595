// Commands to X-Sense detectors (docs/protocols/xsense.md §6): a remote self-test or mute, written as
// the desired state of the model's shadow. A self-test whose result never comes ends after a timeout.
import type { DriverSink } from "../../core/driver.ts";
import type { DriverRuntime } from "../../core/driver-runtime.ts";
import type { Logger } from "../../core/logger.ts";
import type { Command, StatePatch } from "../../core/model.ts";
import { isSounding, type Dev, type Inventory, type Station } from "./inventory.ts";
import { flag } from "./parse.ts";
import type { XSenseSession } from "./session.ts";
import type { ShadowClient } from "./shadows.ts";

/** YYYYMMDDHHMMSS in UTC. */
export function utcStamp(date = new Date()): string {
  return date.toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

export interface CommandOptions {
  inventory: Inventory;
  session: XSenseSession;
  shadows: ShadowClient;
  rt: DriverRuntime;
  log: Logger;
  sink: DriverSink;
  /** A self-test with no result by then is reported as finished. */
  selfTestMs: number;
}

export class XSenseCommands {
  readonly #o: CommandOptions;

  constructor(options: CommandOptions) {
    this.#o = options;
  }

  async send(id: string, command: Command): Promise<void> {
    const dev = this.#o.inventory.byId.get(id);
    if (!dev?.spec || !dev.info) throw new Error(`X-Sense has no device ${id}`);
    const parts = [command.smokeAlarm, command.coAlarm, command.heatAlarm];
    const test = parts.some((p) => p?.testing === true);
    const mute = parts.some((p) => p?.muted === true);
    const otherKey = Object.keys(command).some((k) => !["smokeAlarm", "coAlarm", "heatAlarm"].includes(k));
    // Only `testing: true` and `muted: true` may be asked for.
    const asked = (p: { testing?: boolean; muted?: boolean }, k: string): boolean =>
      (k === "testing" && !!p.testing) || (k === "muted" && !!p.muted);
    const otherField = parts.some((p) => p && Object.keys(p).some((k) => !asked(p, k)));
    if ((!test && !mute) || otherKey || otherField) {
      throw new Error(`X-Sense ${dev.name}: only a self-test (testing: true) or mute (muted: true) can be requested`);
    }
    if (test) await this.#selfTest(dev);
    if (mute) await this.#hush(dev);
  }

  /** Hush: mute the detectors of this one's station that report their alarm sounding, this one included when it
   * does (the one that raised the alarm, not just the others sounding along); when none does, this one. One
   * pressed on a detector sounding only along with another gets its own mute state reported back, so it does not
   * read as muted. */
  async #hush(dev: Dev): Promise<void> {
    if (!dev.spec?.mute) throw new Error(`X-Sense ${dev.name} (${dev.model}) cannot be muted remotely`);
    const sounding = [...this.#o.inventory.devices.values()].filter(
      (d) => d.station === dev.station && d.info && d.spec?.mute && isSounding(d),
    );
    const targets = sounding.length ? sounding : [dev];
    await Promise.all(targets.map((d) => this.#mute(d)));
    this.#o.log.info({ device: dev.id, muted: targets.map((d) => d.id) }, `xsense: hush from ${dev.name}`);
    if (!targets.includes(dev)) {
      const muted = flag(dev.fields.muteStatus) === true;
      const patch: StatePatch = {};
      if (dev.spec.smoke) patch.smokeAlarm = { muted };
      if (dev.spec.co) patch.coAlarm = { muted };
      if (dev.spec.heat) patch.heatAlarm = { muted };
      this.#o.sink.stateChanged(dev.id, patch);
    }
  }

  /** Ask every base station for fresh thermo-hygrometer readings (`2nd_apptempdata`, docs/protocols/xsense.md
   * §6); they come back as ordinary shadow reports. Best effort: a refusal is logged, never thrown. */
  async liveRead(): Promise<void> {
    const byStation = new Map<Station, string[]>();
    for (const dev of this.#o.inventory.devices.values()) {
      if (!dev.spec?.liveRead || !dev.info || !dev.station.bridge) continue;
      byStation.set(dev.station, [...(byStation.get(dev.station) ?? []), dev.sn]);
    }
    await Promise.all(
      [...byStation].map(async ([station, sns]) => {
        // Field order as the app sends it (captured, docs/protocols/xsense.md §6).
        const desired = {
          shadow: "appTempData",
          deviceSN: sns,
          source: "1",
          report: "1",
          reportDst: "1",
          timeoutM: "5",
          userId: this.#o.session.userId ?? "",
          time: utcStamp(),
          stationSN: station.sn,
        };
        try {
          const doc = await this.#o.shadows.shadow(station.house, station.thing, "2nd_apptempdata", {
            state: { desired },
          });
          if (doc === undefined) throw new Error(`no shadow ${station.thing}~2nd_apptempdata`);
        } catch (error) {
          this.#o.log.warn({ station: station.sn }, `xsense: live readings not requested: ${(error as Error).message}`);
        }
      }),
    );
  }

  #desiredBase(dev: Dev, shadow: string, time: "utc" | "ms" | "none" | undefined): Record<string, unknown> {
    const base: Record<string, unknown> = { deviceSN: dev.sn, shadow, stationSN: dev.station.sn };
    if (time !== "none") base.time = time === "ms" ? String(Date.now()) : utcStamp();
    base.userId = this.#o.session.userId ?? "";
    return base;
  }

  async #write(dev: Dev, topic: string, desired: Record<string, unknown>): Promise<void> {
    try {
      await this.#o.session.ensureLogin();
      const doc = await this.#o.shadows.shadow(dev.station.house, dev.station.thing, topic, { state: { desired } });
      if (doc === undefined) throw new Error(`No shadow exists with name: '${dev.station.thing}~${topic}'`);
    } catch (error) {
      const why = (error as Error).message;
      throw new Error(`X-Sense could not send ${String(desired.shadow)} to ${dev.name}: ${why}`, { cause: error });
    }
  }

  async #selfTest(dev: Dev): Promise<void> {
    const route = dev.spec?.selfTest;
    if (!route) throw new Error(`X-Sense ${dev.name} (${dev.model}) has no remote self-test`);
    // SBS10 children use appselftest_ on the bare station thing and send no time (docs/protocols/xsense.md §6).
    const sbs10 = dev.station.model === "SBS10";
    const topic = `${sbs10 ? "appselftest_" : route.topic}${dev.sn}`;
    const desired = this.#desiredBase(dev, sbs10 ? "appSelfTest" : route.shadow, sbs10 ? "none" : route.time);
    if (route.userParam && !sbs10) desired.userParam = "source=1";
    await this.#write(dev, topic, desired);
    this.#o.log.info({ device: dev.id }, `xsense: self-test of ${dev.name} requested`);
    this.#o.rt.cancel(dev.testTimer);
    dev.testTimer = this.#o.rt.later(this.#o.selfTestMs, () => {
      dev.testTimer = undefined;
      this.#o.log.warn({ device: dev.id }, `xsense: no self-test result from ${dev.name}`);
      const patch: StatePatch = {};
      if (dev.spec?.smoke) patch.smokeAlarm = { testing: false };
      if (dev.spec?.co) patch.coAlarm = { testing: false };
      if (dev.spec?.heat) patch.heatAlarm = { testing: false };
      this.#o.sink.stateChanged(dev.id, patch);
    });
  }

  async #mute(dev: Dev): Promise<void> {
    const route = dev.spec?.mute;
    if (!route) throw new Error(`X-Sense ${dev.name} (${dev.model}) cannot be muted remotely`);
    const desired = this.#desiredBase(dev, route.shadow, "utc");
    let muteType = "0";
    if (route.coSensitive) {
      const ppm = Number(dev.fields.coPpm);
      if (String(dev.fields.standard ?? "") === "0" && ppm > 210) muteType = "1";
    }
    desired.muteType = muteType;
    if (route.userParam) desired.userParam = "source=1";
    await this.#write(dev, `${route.topic}`, desired);
  }
}
