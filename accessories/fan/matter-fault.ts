// A fan's fault in Matter: the Operational State cluster on the fan endpoint. FanControl has no fault
// attribute and Matter has no fan-specific one; Operational State is the spec's generic "is it
// running, and what error is it in" cluster (Matter 1.3 §1.14), read by Home Assistant and other
// controllers, and it emits an OperationalError event when a fault starts. States: Stopped (fan
// off), Running (on), Error while the device reports a fault: error UnableToCompleteOperation with
// the vendor's text in errorStateDetails. Not a manufacturer-specific error id (0x80-0xBF) with a
// label: matter.js 0.17.9 validates ErrorStateId against the spec's enum and refuses them (and a
// label is only allowed with those). No commands (all optional): the fan is run through FanControl.
import { OperationalStateServer } from "@matter/main/behaviors/operational-state";
import { OperationalState } from "@matter/main/clusters/operational-state";
import type { DeviceState } from "../../src/core/model.ts";

/** The general error a device fault is reported as; the label says which fault. */
export const DEVICE_FAULT_ERROR_ID = OperationalState.ErrorState.UnableToCompleteOperation;

export const FanOperationalStateServer = OperationalStateServer;

const STATES = [
  OperationalState.OperationalStateEnum.Stopped,
  OperationalState.OperationalStateEnum.Running,
  OperationalState.OperationalStateEnum.Error,
].map((operationalStateId) => ({ operationalStateId }));

/** The cluster's fixed attributes, for the endpoint's construction. */
export function operationalStateInitial(state: DeviceState): Record<string, unknown> {
  return { phaseList: null, currentPhase: null, operationalStateList: STATES, ...operationalStateOf(state) };
}

/** operationalState and operationalError for a device state. */
export function operationalStateOf(state: DeviceState): Record<string, unknown> {
  if (state.fault !== undefined) {
    return {
      operationalState: OperationalState.OperationalStateEnum.Error,
      operationalError: { errorStateId: DEVICE_FAULT_ERROR_ID, errorStateDetails: state.fault.slice(0, 64) },
    };
  }
  return {
    operationalState: state.fan?.on
      ? OperationalState.OperationalStateEnum.Running
      : OperationalState.OperationalStateEnum.Stopped,
    operationalError: { errorStateId: OperationalState.ErrorState.NoError },
  };
}
