/**
 * The organiser API (issue 5) as the console finds it. Features land one by one,
 * so the console asks the server which mutations exist before offering them: a
 * field under `@skip(if: true)` is validated but never run, which tells us whether
 * it exists, and whether it returns an object (needs a selection) or a scalar.
 */
import { ApiError, asApiError, request } from "../api";
import { organiserToken } from "../session";

export type Shape = "scalar" | "object" | "missing";

/** Organiser mutations the console knows how to drive, with a harmless probe call. */
export const FEATURES = {
  organiserLogin: `organiserLogin(password: "")`,
  hideSubmission: `hideSubmission(id: "0")`,
  banParticipant: `banParticipant(id: "0")`,
} as const;

export type Feature = keyof typeof FEATURES;
export type Capabilities = Record<Feature, Shape>;

async function probe(call: string): Promise<Shape> {
  try {
    await request(`mutation Probe { probe: ${call} @skip(if: true) }`, {}, { retries: 2 });
    return "scalar";
  } catch (error) {
    const apiError = asApiError(error);
    if (apiError.code !== "UNSUPPORTED") return apiError.code === "NETWORK" ? Promise.reject(apiError) : "scalar";
    return /must have a selection/.test(apiError.message) ? "object" : "missing";
  }
}

export async function probeCapabilities(): Promise<Capabilities> {
  const names = Object.keys(FEATURES) as Feature[];
  const shapes = await Promise.all(names.map((name) => probe(FEATURES[name])));
  return Object.fromEntries(names.map((name, i) => [name, shapes[i]])) as Capabilities;
}

/** Log in; returns the organiser token, whether the server answers a string or `{ token }`. */
export async function login(password: string, shape: Shape): Promise<string> {
  const selection = shape === "object" ? " { token }" : "";
  const data = await request<{ organiserLogin: string | { token: string } }>(
    `mutation OrganiserLogin($password: String!) { organiserLogin(password: $password)${selection} }`,
    { password },
  );
  const result = data.organiserLogin;
  const token = typeof result === "string" ? result : result?.token;
  if (!token) throw new ApiError("INTERNAL", "organiserLogin returned no token");
  return token;
}

/** Run a moderation mutation that takes one id (hideSubmission, banParticipant, …). */
export async function moderate(feature: "hideSubmission" | "banParticipant", id: string, shape: Shape): Promise<void> {
  if (shape === "missing") throw new ApiError("UNSUPPORTED", `${feature} is not available`);
  const selection = shape === "object" ? " { __typename }" : "";
  await request(`mutation Moderate($id: ID!) { result: ${feature}(id: $id)${selection} }`, { id }, {
    token: organiserToken.get(),
  });
}
