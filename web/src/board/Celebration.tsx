import { useMemo } from "preact/hooks";
import { Picture } from "../components/Picture";
import { percent } from "../format";
import { useI18n } from "../i18n";
import type { Celebration as CelebrationModel } from "./useBoard";

const COLOURS = ["#ffd54a", "#5ce1e6", "#ff5d6c", "#3ddc84", "#b388ff", "#ffffff"];

/** Full-screen moment when #1 changes hands: the new leader, their drawing, confetti. */
export function Celebration({ celebration }: { celebration: CelebrationModel }) {
  const { t } = useI18n();
  const pieces = useMemo(
    () =>
      Array.from({ length: 90 }, (_, i) => ({
        left: Math.random() * 100,
        delay: Math.random() * 1.8,
        duration: 2.8 + Math.random() * 2.4,
        rotate: Math.random() * 360,
        drift: (Math.random() - 0.5) * 30,
        colour: COLOURS[i % COLOURS.length],
        wide: Math.random() > 0.5,
      })),
    [celebration.at],
  );
  const { entry } = celebration;
  return (
    <div class="celebration" role="status" aria-live="assertive" key={celebration.at}>
      <div class="confetti" aria-hidden="true">
        {pieces.map((p, i) => (
          <span
            key={i}
            class={`confetti__piece ${p.wide ? "confetti__piece--wide" : ""}`}
            style={{
              left: `${p.left}%`,
              background: p.colour,
              animationDelay: `${p.delay}s`,
              animationDuration: `${p.duration}s`,
              "--rotate": `${p.rotate}deg`,
              "--drift": `${p.drift}vw`,
            }}
          />
        ))}
      </div>
      <div class="celebration__card">
        <p class="celebration__title">{t("board.newLeader")}</p>
        <Picture class="celebration__picture" src={entry.imageUrl} alt={entry.name} loading="eager" />
        <p class="celebration__name">{entry.name}</p>
        <p class="celebration__score">{percent(entry.score)}</p>
      </div>
    </div>
  );
}
