// Matter setup code rules (Matter Core spec 5.1.7.1), as pure functions so config validation can use
// them without loading matter.js.

/** Passcodes the spec forbids: all-same digits and the two sequences. */
export const FORBIDDEN_PASSCODES: readonly number[] = [
  0, 11111111, 22222222, 33333333, 44444444, 55555555, 66666666, 77777777, 88888888, 99999999, 12345678, 87654321,
];

/** Why a passcode is not valid, or undefined when it is. Valid: an integer 1..99999998 not in the forbidden list. */
export function passcodeProblem(passcode: number): string | undefined {
  if (!Number.isInteger(passcode)) return "the Matter passcode must be a whole number";
  if (passcode < 1 || passcode > 99999998) return "the Matter passcode must be between 00000001 and 99999998";
  if (FORBIDDEN_PASSCODES.includes(passcode))
    return `the Matter passcode ${String(passcode).padStart(8, "0")} is forbidden by the spec (too easy to guess)`;
  return undefined;
}

/** Why a discriminator is not valid (an integer 0..4095, 12 bits), or undefined when it is. */
export function discriminatorProblem(discriminator: number): string | undefined {
  if (!Number.isInteger(discriminator) || discriminator < 0 || discriminator > 4095)
    return "the Matter discriminator must be a whole number between 0 and 4095";
  return undefined;
}

export function isValidPasscode(passcode: number): boolean {
  return passcodeProblem(passcode) === undefined;
}

export function isValidDiscriminator(discriminator: number): boolean {
  return discriminatorProblem(discriminator) === undefined;
}

/** A random valid passcode and discriminator (for a first start without configured codes). */
export function randomSetupCodes(random: (maxExclusive: number) => number): {
  passcode: number;
  discriminator: number;
} {
  let passcode = 0;
  while (!isValidPasscode(passcode)) passcode = 1 + random(99999998);
  return { passcode, discriminator: random(4096) };
}
