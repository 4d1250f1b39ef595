// Where the application's own files are: package.json, proto/, the web page's static files. This module
// sits two directories below the repository root, and so does the bundle that the Docker image and
// `npm start` run (dist/app/, docker/bundle.ts): the same relative path works from the sources and from it.
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const APP_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A path inside the application, e.g. appPath("proto", "<file>.proto"). */
export const appPath = (...parts: string[]): string => join(APP_ROOT, ...parts);
