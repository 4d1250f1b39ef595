// A trimmed copy of the 2023 `/api:1/info-model` document shape (docs/protocols/fansync.md §3): family ->
// {timestamp, size, lastModified, name, informationModel}. Only a few families; no client of ours reads it.

function family(
  name: string,
  members: string[],
  speed: unknown,
  extra: Record<string, unknown>[] = [],
): Record<string, unknown> {
  const informationModel = {
    familyMembers: members,
    familyName: name,
    deviceId: "F",
    components: [
      {
        type: "large-toggle-with-range",
        title: "FAN_POWER_AND_SPEED",
        models: [
          {
            key: "H00",
            values: [
              { value: 0, text: "OFF" },
              { value: 1, text: "ON" },
            ],
          },
          {
            key: "H02",
            values: speed,
            disable: [
              { key: "H00", value: 0 },
              { key: "H01", value: 1 },
            ],
          },
        ],
      },
      {
        type: "button-group",
        title: "FAN_MODE",
        models: [
          {
            key: "H01",
            values: [
              { value: 0, text: "NORMAL" },
              { value: 1, text: "NATURAL" },
            ],
            disable: [{ key: "H00", value: 0 }],
          },
        ],
      },
      ...extra,
    ],
    controlLayout: { primary: ["FAN_POWER_AND_SPEED"], secondary: ["FAN_MODE"] },
    scheduleLayout: [],
    eventCollections: [{ name: "fan_speed_at_minimum", conditions: [{ key: "H02", operator: "lte", value: 25 }] }],
    errorFields: [{ key: "H0E", values: [{ value: 262, text: "Stalled fault" }] }],
    images: { thumbnail: { uri: `/file_manager/${name}-thumbnail-1` } },
    integration: { smartthings: { deviceProfileId: "00000000-0000-0000-0000-000000000000" }, alexa: { traits: [] } },
  };
  const json = JSON.stringify(informationModel);
  return {
    timestamp: 1683590400000,
    size: json.length,
    lastModified: "2023-05-09T00:00:00.000Z",
    name: `${name}_trigger.json`,
    informationModel,
  };
}

const light = {
  type: "range-with-toggle",
  title: "FAN_LIGHT",
  models: [
    {
      key: "H0B",
      values: [
        { value: 0, text: "OFF" },
        { value: 1, text: "ON" },
      ],
    },
    { key: "H0C", values: { min: 1, max: 100, step: 1, func: "brightness" }, disable: [{ key: "H0B", value: 0 }] },
  ],
};
const cct = {
  type: "button-group",
  title: "FAN_LIGHT_CCT",
  models: [
    {
      key: "H04",
      values: [
        { value: 3000, text: "WARM" },
        { value: 4000, text: "NATURALWHITE" },
        { value: 5000, text: "COOL" },
      ],
      disable: [{ key: "H0B", value: 0 }],
    },
  ],
};
const direction = {
  type: "toggle",
  title: "FAN_DIRECTION",
  models: [
    {
      key: "H06",
      values: [
        { value: 0, text: "FORWARD" },
        { value: 1, text: "REVERSE" },
      ],
      disable: [{ key: "H00", value: 0 }],
    },
  ],
};
const continuous = { min: 1, max: 100, step: 1, func: "fanSpeed" };
const threeSpeed = [
  { value: 33, text: "LOW" },
  { value: 66, text: "MIDDLE" },
  { value: 100, text: "HIGH" },
];

export const INFO_MODEL: Record<string, unknown> = {
  "FAN-FDR1L2": family("FAN-FDR1L2", [".*-FDR1L2$"], continuous, [direction, light]),
  "FAN-FDR1L3": family("FAN-FDR1L3", [".*-FDR1L3$"], continuous, [direction, light, cct]),
  "FAN-FAR1L2_UAR1L2": family("FAN-FAR1L2_UAR1L2", [".*-FAR1L2$", ".*-UAR1L2$"], threeSpeed, [light]),
  "FAN-FDR0L0_FAR0L0": family("FAN-FDR0L0_FAR0L0", [".*-FDR0L0$", ".*-FAR0L0$"], threeSpeed),
};
