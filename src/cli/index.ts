// One entry for every command: `node src/cli/index.ts <command> [options]` (npm scripts wrap it).
//   start      run the bridge (same as `npm start`)
//   demo       the bridge against built-in simulators of the vendors
//   login      log a vendor account in (MFA) or check its configured credentials
//   pairing    print the HomeKit and Matter pairing codes without starting the bridge
//   reset      forget the HomeKit or Matter pairings
//   doctor     check this machine, the config and the data directory
/** The help text; it names the vendors' login kinds, so the vendor list is loaded only to print it. */
async function usage(): Promise<string> {
  const { vendors } = await import("../drivers/index.ts");
  const ids = (kind: string) =>
    vendors
      .filter((v) => v.login.kind === kind)
      .map((v) => v.id)
      .join(", ");
  return `usage: hearthbridge <command> [options]

commands:
  start                 run the bridge (--config, --data, --log-json)
  demo                  run the bridge against built-in simulators (--data to keep pairings)
  login <vendor>        ${ids("password+mfa")}: log in with the SMS code; ${ids("password")}: check the configured \
password
  pairing               print the HomeKit and Matter pairing codes and QR codes
  reset homekit|matter  forget that ecosystem's pairings (asks first; --yes)
  doctor                check ffmpeg, ports, data directory permissions, config (--network, --fix)

Every command takes --config <file> (default ./config.yaml) and --data <dir> (default ./data);
"<command> --help" shows its options.`;
}

async function run(argv: string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  switch (command) {
    case "start":
    case "demo": {
      // Both parse process.argv themselves and own the process from here on.
      process.argv = [process.argv[0]!, process.argv[1]!, ...rest];
      // The demo lives in sim/ (the simulated vendor clouds), apart from the bridge: only this line links them.
      if (command === "start") await import("../main.ts");
      else await (await import("../../sim/demo/main.ts")).runDemo();
      return undefined;
    }
    case "login":
      return (await import("./login.ts")).loginCommand(rest);
    case "pairing":
      return (await import("./pairing.ts")).pairingCommand(rest);
    case "reset":
      return (await import("./reset.ts")).resetCommand(rest);
    case "doctor":
      return (await import("./doctor.ts")).doctorCommand(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(await usage());
      return command === undefined ? 2 : 0;
    default:
      console.error(`hearthbridge: unknown command ${JSON.stringify(command)}\n\n${await usage()}`);
      return 2;
  }
}

const code = await run(process.argv.slice(2));
if (code !== undefined) process.exitCode = code;
