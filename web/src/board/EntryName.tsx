import type { LeaderboardEntry } from "../types";

/** An entry's name, and under it its prompt once the organisers revealed the best ones
 * (as text, at most two lines). */
export function EntryName({ entry }: { entry: LeaderboardEntry }) {
  return (
    <div class="entry__who">
      <h3 class="entry__name">{entry.name}</h3>
      {entry.prompt ? <p class="entry__prompt">“{entry.prompt}”</p> : null}
    </div>
  );
}
