import { render } from "preact";
import "../styles/base.css";
import "./board.css";
import { Board } from "./Board";

render(<Board />, document.getElementById("app")!);

// An unattended screen should not dim or sleep. Needs a secure context (HTTPS or
// localhost); the lock is dropped whenever the tab is hidden, so take it again.
async function keepAwake() {
  try {
    await (navigator as Navigator & { wakeLock?: { request(type: "screen"): Promise<unknown> } }).wakeLock?.request("screen");
  } catch {
    // not allowed here: the screen's own power settings apply
  }
}
void keepAwake();
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") void keepAwake();
});
