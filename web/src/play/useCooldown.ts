import { useState } from "preact/hooks";
import type { ApiError } from "../api";
import { hasCountdown } from "../errors";
import { secondsLeft } from "../format";
import { useNow } from "../store";

/** Seconds a form still waits before its next try, after an error that said how long
 * (RATE_LIMITED, BUSY); `start` takes such an error and ignores any other. */
export function useCooldown(): [number, (error: ApiError) => void] {
  const [until, setUntil] = useState(0);
  const now = useNow(250, until > Date.now());
  const start = (error: ApiError) => {
    if (hasCountdown(error)) setUntil(Date.now() + (error.retryAfter ?? 0) * 1000);
  };
  return [secondsLeft(until, now), start];
}
