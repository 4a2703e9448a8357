import { Picture } from "../components/Picture";
import { percent } from "../format";
import type { LeaderboardEntry } from "../types";
import { ChangeChip } from "./ChangeChip";
import { EntryName } from "./EntryName";
import { entryKey, type Changes } from "./changes";

const ORDER = [1, 0, 2]; // silver, gold, bronze from left to right
const MEDAL = ["gold", "silver", "bronze"];

export function Podium({ entries, changes }: { entries: LeaderboardEntry[]; changes: Changes }) {
  return (
    <ol class="podium">
      {ORDER.map((index) => {
        const entry = entries[index];
        if (!entry) return <li key={`empty-${index}`} class={`podium__slot podium__slot--${MEDAL[index]} podium__slot--empty`} />;
        const change = changes.get(entryKey(entry));
        return (
          <li key={`slot-${index}`} class={`podium__slot podium__slot--${MEDAL[index]}`}>
            <article
              class={`entry entry--podium ${change?.improved ? "entry--fresh" : ""}`}
              data-flip={entryKey(entry)}
              data-rank={entry.rank}
            >
              <div class="entry__picture-wrap">
                <Picture class="entry__picture" src={entry.imageUrl} alt={entry.name} loading="eager" />
                <span class="medal">{entry.rank}</span>
                <ChangeChip change={change} />
              </div>
              <EntryName entry={entry} />
              <p class="entry__score">{percent(entry.score)}</p>
            </article>
            <div class="podium__step" aria-hidden="true" />
          </li>
        );
      })}
    </ol>
  );
}
