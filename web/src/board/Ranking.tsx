import { Picture } from "../components/Picture";
import { percent } from "../format";
import type { LeaderboardEntry } from "../types";
import { ChangeChip } from "./ChangeChip";
import { EntryName } from "./EntryName";
import { entryKey, type Changes } from "./changes";

/** Places 4 and below, one row each. */
export function Ranking({ entries, changes }: { entries: LeaderboardEntry[]; changes: Changes }) {
  return (
    <ol class="ranking">
      {entries.map((entry) => {
        const change = changes.get(entryKey(entry));
        return (
          <li key={entryKey(entry)} class="ranking__row">
            <article
              class={`entry entry--row ${change?.improved ? "entry--fresh" : ""}`}
              data-flip={entryKey(entry)}
              data-rank={entry.rank}
            >
              <span class="entry__rank">{entry.rank}</span>
              <Picture class="entry__thumb" src={entry.imageUrl} alt={entry.name} />
              <EntryName entry={entry} />
              <ChangeChip change={change} />
              <p class="entry__score">{percent(entry.score)}</p>
            </article>
          </li>
        );
      })}
    </ol>
  );
}
