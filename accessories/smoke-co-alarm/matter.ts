// smokeAlarm, coAlarm, heatAlarm -> the one Matter endpoint of a safety detector: a Smoke CO Alarm
// device (device type 0x0076) that carries everything the detector reports.
//
// Composition. Bindings are per capability, but the Smoke CO Alarm cluster covers smoke AND CO, and a
// controller shows one alarm per endpoint. So a detector is rendered as ONE endpoint, by the one
// binding named for it (`smokeCoAlarmMatter`), listed under each of the three alarm capabilities: the
// first the device has, in the order smokeAlarm -> coAlarm -> heatAlarm (`alarmEndpointOwner`), builds
// the endpoint; the later ones and the battery binding add no part of their own.
// The endpoint holds:
// - SmokeCoAlarm with the SmokeAlarm feature when the device has smokeAlarm or heatAlarm, the CoAlarm
//   feature when it has coAlarm (a combo detector gets both). Matter has no heat alarm cluster or
//   device type (1.4): a heat alarm is a fire alarm and is expressed as smokeState (smoke OR heat
//   detected), as HomeKit shows it as a smoke sensor (accessories/heat-alarm/homekit.ts).
//   batteryAlert (low -> Warning, 0 % -> Critical), hardwareFaultAlert (a reported fault),
//   endOfServiceAlert (end of life -> Expired), testInProgress (a self-test runs), deviceMuted (an alarm
//   is hushed: the detector's mute state as it reports it, true while hushed), expressedState
//   (the most urgent of: smoke/heat alarm, CO alarm, testing, hardware fault, end of service, battery
//   alert, normal). The cluster's events are emitted by reactors on those attributes (smokeAlarm,
//   coAlarm, lowBattery, hardwareFault, endOfService, selfTestComplete, allClear), so every path that
//   changes an attribute (device updates, the self-test command) emits them the same way.
//   selfTestRequest becomes the vendor's self-test command ({smokeAlarm:{testing:true}}, or the CO or
//   heat alarm's for models whose test belongs to it); BUSY while an alarm or a test is expressed,
//   UNSUPPORTED_COMMAND for models without a remote self-test.
// - PowerSource (Battery feature) when the device has a battery: batPercentRemaining (half percent),
//   batChargeLevel, batReplacementNeeded. matter.js adds the Power Source device type to the endpoint.
// - CarbonMonoxideConcentrationMeasurement (NumericMeasurement, ppm in air) when the CO alarm reports ppm,
//   with PeakMeasurement (peakMeasuredValue) when it reports its peak.
// One endpoint means a detector is a plain bridged device (flat endpoint with
// BridgedDeviceBasicInformation), the shape every controller understands; a battery-only device (none
// exists among the vendors so far) gets no Matter endpoint.
//
// Safety path: device updates are written with endpoint.set() as soon as the host hands them over
// (after a running controller command on the endpoint, if any); matter.js then reports after its
// fixed 50 ms coalescing delay. Nothing here batches or delays.
import type { Behavior, Endpoint, MutableEndpoint } from "@matter/main";
import * as coMeasurement from "@matter/main/behaviors/carbon-monoxide-concentration-measurement";
import { SmokeCoAlarmServer } from "@matter/main/behaviors/smoke-co-alarm";
import { ConcentrationMeasurement } from "@matter/main/clusters/concentration-measurement";
import { SmokeCoAlarm } from "@matter/main/clusters/smoke-co-alarm";
import { SmokeCoAlarmDevice } from "@matter/main/devices/smoke-co-alarm";
import { Status, StatusResponseError } from "@matter/main/types";
import type { Capabilities, DeviceState, StatePatch } from "../../src/core/model.ts";
import {
  BatteryPowerSourceServer,
  batteryLevelOf,
  powerSourceAttributes,
  powerSourceInitial,
} from "../battery/matter.ts";
import { selfTestCommand } from "../alarm-controls/commands.ts";
import type { CapabilityName } from "../kinds.ts";
import {
  bindCommands,
  commandsIdle,
  inCommand,
  sendCommand,
  type MatterBinding,
  type MatterPart,
} from "../matter-support.ts";
import { enabled, typeWith, withFeatures } from "../matter-types.ts";
import type { BindingContext } from "../types.ts";

const { AlarmState, ExpressedState, EndOfService, MuteState } = SmokeCoAlarm;

/** The window a CO detector's own peak memory covers is not reported: the longest the cluster allows (7 days). */
export const CO_PEAK_WINDOW_S = 604_800;

/** Which alarm binding builds a device's Smoke CO Alarm endpoint (see the header). */
export function alarmEndpointOwner(caps: Capabilities): CapabilityName | undefined {
  if (caps.smokeAlarm) return "smokeAlarm";
  if (caps.coAlarm) return "coAlarm";
  if (caps.heatAlarm) return "heatAlarm";
  return undefined;
}

/** The command a Matter SelfTestRequest stands for (accessories/alarm-controls/commands.ts). */
export { selfTestCommand };

function batteryAlert(state: DeviceState): SmokeCoAlarm.AlarmState {
  const level = batteryLevelOf(state);
  return level === "critical" ? AlarmState.Critical : level === "warning" ? AlarmState.Warning : AlarmState.Normal;
}

/** Any of the detector's alarms is hushed (muted while it still detects, or muted by its button). */
export function isMuted(state: DeviceState): boolean {
  return !!(state.smokeAlarm?.muted || state.coAlarm?.muted || state.heatAlarm?.muted);
}

/** The attribute values of every cluster on the endpoint for a device state. */
export function alarmAttributes(state: DeviceState, caps: Capabilities): Record<string, Record<string, unknown>> {
  const smoke = !!state.smokeAlarm?.detected || !!state.heatAlarm?.detected;
  const co = !!state.coAlarm?.detected;
  const testing = !!(state.smokeAlarm?.testing || state.coAlarm?.testing || state.heatAlarm?.testing);
  const fault = state.fault !== undefined;
  const endOfLife = state.endOfLife === true;
  const battery = batteryAlert(state);
  const expressed = smoke
    ? ExpressedState.SmokeAlarm
    : co
      ? ExpressedState.CoAlarm
      : testing
        ? ExpressedState.Testing
        : fault
          ? ExpressedState.HardwareFault
          : endOfLife
            ? ExpressedState.EndOfService
            : battery !== AlarmState.Normal
              ? ExpressedState.BatteryAlert
              : ExpressedState.Normal;
  const smokeCoAlarm: Record<string, unknown> = {
    expressedState: expressed,
    batteryAlert: battery,
    testInProgress: testing,
    hardwareFaultAlert: fault,
    endOfServiceAlert: endOfLife ? EndOfService.Expired : EndOfService.Normal,
    deviceMuted: isMuted(state) ? MuteState.Muted : MuteState.NotMuted,
  };
  if (caps.smokeAlarm || caps.heatAlarm) smokeCoAlarm.smokeState = smoke ? AlarmState.Critical : AlarmState.Normal;
  if (caps.coAlarm) smokeCoAlarm.coState = co ? AlarmState.Critical : AlarmState.Normal;
  const out: Record<string, Record<string, unknown>> = { smokeCoAlarm };
  if (caps.battery) out.powerSource = powerSourceAttributes(state, caps);
  if (caps.coAlarm?.ppm) {
    const measurement: Record<string, unknown> = { measuredValue: state.coAlarm?.ppm ?? null };
    if (caps.coAlarm.peak) measurement.peakMeasuredValue = state.coAlarm?.peakPpm ?? null;
    out.carbonMonoxideConcentrationMeasurement = measurement;
  }
  return out;
}

interface AlarmLink {
  /** The command a SelfTestRequest sends, undefined when the model has none. */
  selfTest: StatePatch | undefined;
  /** Render the device's current state (after a command; the test result may already be in). */
  resync(): void;
}
const links = new WeakMap<object, AlarmLink>();

const BUSY_STATES: SmokeCoAlarm.ExpressedState[] = [
  ExpressedState.SmokeAlarm,
  ExpressedState.CoAlarm,
  ExpressedState.Testing,
  ExpressedState.InterconnectSmoke,
  ExpressedState.InterconnectCo,
];

type Reactor = Parameters<SmokeCoAlarmServer["reactTo"]>[0];
interface Emitter {
  emit(payload: unknown, context?: unknown): void;
}

export class HearthSmokeCoAlarmServer extends SmokeCoAlarmServer {
  override initialize(): void {
    super.initialize();
    const events = this.events as unknown as Record<string, Reactor | undefined>;
    const on = (name: string, react: (value: never, old: never) => void) => {
      const event = events[`${name}$Changed`];
      if (event) this.reactTo(event, react, { offline: true });
    };
    // Feature-dependent attributes (smokeState, coState) exist only with their feature.
    on("smokeState", (value: SmokeCoAlarm.AlarmState) => {
      if (value !== AlarmState.Normal) this.#emit("smokeAlarm", { alarmSeverityLevel: value });
    });
    on("coState", (value: SmokeCoAlarm.AlarmState) => {
      if (value !== AlarmState.Normal) this.#emit("coAlarm", { alarmSeverityLevel: value });
    });
    on("batteryAlert", (value: SmokeCoAlarm.AlarmState) => {
      if (value !== AlarmState.Normal) this.#emit("lowBattery", { alarmSeverityLevel: value });
    });
    on("hardwareFaultAlert", (value: boolean) => {
      if (value) this.#emit("hardwareFault", undefined);
    });
    on("endOfServiceAlert", (value: SmokeCoAlarm.EndOfService) => {
      if (value === EndOfService.Expired) this.#emit("endOfService", undefined);
    });
    on("testInProgress", (value: boolean, old: boolean) => {
      if (!value && old) this.#emit("selfTestComplete", undefined);
    });
    on("expressedState", (value: SmokeCoAlarm.ExpressedState, old: SmokeCoAlarm.ExpressedState) => {
      if (value === ExpressedState.Normal && old !== ExpressedState.Normal) this.#emit("allClear", undefined);
    });
  }

  #emit(name: string, payload: unknown): void {
    (this.events as unknown as Record<string, Emitter | undefined>)[name]?.emit(payload, this.context);
  }

  /** Matter 1.3 §2.11.7.1: refuse while an alarm or a test is expressed; otherwise run the vendor's test. */
  override selfTestRequest(): Promise<void> {
    if (BUSY_STATES.includes(this.state.expressedState))
      throw new StatusResponseError("an alarm or a self-test is in progress", Status.Busy);
    const link = links.get(this.endpoint);
    const command = link?.selfTest;
    if (!link || !command)
      throw new StatusResponseError("this detector has no remote self-test", Status.UnsupportedCommand);
    return inCommand(this.endpoint, async () => {
      await sendCommand(this.endpoint, command);
      // Accepted: the test runs. The device's own state follows once this command is done: testing
      // true until its result arrives (testInProgress -> false emits selfTestComplete), or at once
      // false when the result came in while the command was in flight.
      this.state.testInProgress = true;
      this.state.expressedState = ExpressedState.Testing;
      link.resync();
    });
  }
}

/** The endpoint type for a capability set. */
export function alarmEndpointType(caps: Capabilities): MutableEndpoint {
  const features: ("SmokeAlarm" | "CoAlarm")[] = [];
  if (caps.smokeAlarm || caps.heatAlarm) features.push("SmokeAlarm");
  if (caps.coAlarm) features.push("CoAlarm");
  // deviceMuted is optional in the cluster: enabled, as every detector reports its mute state.
  const behaviors: Behavior.Type[] = [
    enabled(withFeatures(HearthSmokeCoAlarmServer, ...features), { attributes: { deviceMuted: true } }),
  ];
  if (caps.battery) behaviors.push(BatteryPowerSourceServer);
  if (caps.coAlarm?.ppm) {
    const server = coMeasurement.CarbonMonoxideConcentrationMeasurementServer;
    const features = caps.coAlarm.peak
      ? (["NumericMeasurement", "PeakMeasurement"] as const)
      : (["NumericMeasurement"] as const);
    behaviors.push(withFeatures(server, ...features));
  }
  return typeWith(SmokeCoAlarmDevice, ...behaviors);
}

export class SmokeCoAlarmPart implements MatterPart {
  /** One per device; the id never changes (matter.js keys stored endpoint numbers by it). */
  readonly id = "alarm";
  readonly type: MutableEndpoint;
  readonly initial: Record<string, unknown>;
  readonly #ctx: BindingContext;
  readonly #caps: Capabilities;
  #endpoint: Endpoint | undefined;

  constructor(ctx: BindingContext) {
    this.#ctx = ctx;
    this.#caps = ctx.entry.info.capabilities;
    this.type = alarmEndpointType(this.#caps);
    const attrs = alarmAttributes(ctx.entry.state, this.#caps);
    this.initial = { ...attrs };
    if (attrs.powerSource) this.initial.powerSource = powerSourceInitial(ctx.entry.state, this.#caps);
    if (attrs.carbonMonoxideConcentrationMeasurement) {
      this.initial.carbonMonoxideConcentrationMeasurement = {
        ...attrs.carbonMonoxideConcentrationMeasurement,
        minMeasuredValue: 0,
        maxMeasuredValue: 1000,
        measurementUnit: ConcentrationMeasurement.MeasurementUnit.Ppm,
        measurementMedium: ConcentrationMeasurement.MeasurementMedium.Air,
        ...(this.#caps.coAlarm?.peak ? { peakMeasuredValueWindow: CO_PEAK_WINDOW_S } : {}),
      };
    }
  }

  async attach(endpoint: Endpoint): Promise<void> {
    this.#endpoint = endpoint;
    bindCommands(endpoint, (patch) => this.#ctx.command(patch));
    links.set(endpoint, {
      selfTest: selfTestCommand(this.#caps),
      resync: () => void this.update(this.#ctx.entry.state).catch(() => {}),
    });
    await this.update(this.#ctx.entry.state);
  }

  async update(reported: DeviceState): Promise<void> {
    const endpoint = this.#endpoint;
    if (!endpoint) return;
    // Let the HomeKit event of the same change leave first: HAP-NodeJS sends it from a 0 ms timer
    // created synchronously by the registry's state event, and matter.js's transaction work (all
    // microtasks) would otherwise run ahead of that timer. This costs Matter about 1 ms of its
    // fixed 50 ms report delay.
    await new Promise((resolve) => setTimeout(resolve, 0));
    await commandsIdle(endpoint);
    // A command may have finished meanwhile: render the newest state.
    let state = reported;
    try {
      state = this.#ctx.entry.state;
    } catch {
      // The device left the registry; render what we were given.
    }
    await endpoint.set(alarmAttributes(state, this.#caps) as never);
  }
}

type AlarmCapability = "smokeAlarm" | "coAlarm" | "heatAlarm";

/** The Smoke CO Alarm binding as listed under `capability`: the detector's endpoint when that
 * capability owns it, else no part. */
function smokeCoAlarmFor(capability: AlarmCapability): MatterBinding {
  return {
    capability,
    parts: (ctx) => (alarmEndpointOwner(ctx.entry.info.capabilities) === capability ? [new SmokeCoAlarmPart(ctx)] : []),
  };
}

/** One binding renders the three alarm capabilities; accessories/matter.ts lists it under each. */
export const smokeCoAlarmMatter: Readonly<Record<AlarmCapability, MatterBinding>> = {
  smokeAlarm: smokeCoAlarmFor("smokeAlarm"),
  coAlarm: smokeCoAlarmFor("coAlarm"),
  heatAlarm: smokeCoAlarmFor("heatAlarm"),
};
