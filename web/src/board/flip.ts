/**
 * FLIP animation for entries that move: capture where every `[data-flip]` element
 * is on screen before an update, then after the render slide each from there to
 * its new place. Works across containers (podium → list) because it compares
 * viewport positions; captures mid-animation positions, so rapid updates glide.
 */
export interface Flip {
  capture(root: HTMLElement | null): void;
  play(root: HTMLElement | null): void;
}

export function createFlip(durationMs = 900): Flip {
  let before = new Map<string, DOMRect>();
  const reduced = () => matchMedia("(prefers-reduced-motion: reduce)").matches;
  const elements = (root: HTMLElement) => root.querySelectorAll<HTMLElement>("[data-flip]");
  return {
    capture(root) {
      before = new Map();
      if (!root) return;
      for (const el of elements(root)) before.set(el.dataset.flip ?? "", el.getBoundingClientRect());
    },
    play(root) {
      if (!root || before.size === 0 || reduced()) return;
      for (const el of elements(root)) {
        const old = before.get(el.dataset.flip ?? "");
        if (!old) continue;
        for (const running of el.getAnimations()) if (running.id === "flip") running.cancel();
        const now = el.getBoundingClientRect();
        const dx = old.left - now.left;
        const dy = old.top - now.top;
        if (Math.abs(dx) < 1 && Math.abs(dy) < 1) continue;
        const animation = el.animate(
          [{ transform: `translate(${dx}px, ${dy}px)` }, { transform: "translate(0, 0)" }],
          { duration: durationMs, easing: "cubic-bezier(0.2, 0.8, 0.2, 1)" },
        );
        animation.id = "flip";
      }
      before = new Map();
    },
  };
}
