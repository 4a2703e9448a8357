import { Picture } from "../components/Picture";
import { percent } from "../format";
import type { Drawing } from "../types";

/** The newest drawings, newest first; each slides in as it arrives. */
export function LatestStrip({ drawings }: { drawings: Drawing[] }) {
  return (
    <ol class="latest">
      {drawings.map((drawing) => (
        <li key={drawing.id} class="latest__item">
          <Picture class="latest__picture" src={drawing.imageUrl} alt={drawing.name} />
          <span class="latest__name">{drawing.name}</span>
          <span class="latest__score">{percent(drawing.score)}</span>
        </li>
      ))}
    </ol>
  );
}
