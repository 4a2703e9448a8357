import { describe, expect, it } from "vitest";
import type { Leaderboard, LeaderboardEntry } from "../types";
import { CHANGE_SHOWN_MS, diff, newLeader } from "./changes";

function entry(name: string, rank: number, score: number): LeaderboardEntry {
  return { id: `${name}-${score}`, name, rank, score, imageUrl: `/images/${name}.webp` };
}

function board(...entries: LeaderboardEntry[]): Leaderboard {
  return {
    eventId: "event-1",
    submissions: entries,
    lastUpdatedAt: 0,
    participantCount: entries.length,
    submissionCount: entries.length,
    latest: [],
    frozen: false,
  };
}

describe("diff", () => {
  it("marks climbers, fallers and newcomers", () => {
    const before = board(entry("ada", 1, 0.9), entry("bo", 2, 0.8));
    const after = board(entry("bo", 1, 0.95), entry("ada", 2, 0.9), entry("cy", 3, 0.5));
    const changes = diff(before, after, new Map(), 1_000);
    expect(changes.get("bo")).toEqual({ delta: 1, improved: true, at: 1_000 });
    expect(changes.get("ada")).toEqual({ delta: -1, improved: false, at: 1_000 });
    expect(changes.get("cy")).toEqual({ delta: null, improved: true, at: 1_000 });
  });

  it("forgets changes after a while", () => {
    const before = board(entry("ada", 1, 0.9));
    const held = diff(board(), before, new Map(), 0);
    expect(held.get("ada")).toBeDefined();
    expect(diff(before, before, held, CHANGE_SHOWN_MS + 1).size).toBe(0);
  });

  it("reports nothing for the first board seen", () => {
    expect(diff(null, board(entry("ada", 1, 0.9)), new Map(), 0).size).toBe(0);
  });
});

describe("newLeader", () => {
  it("names the new #1 when the top changes hands", () => {
    const before = board(entry("ada", 1, 0.9), entry("bo", 2, 0.8));
    const after = board(entry("bo", 1, 0.95), entry("ada", 2, 0.9));
    expect(newLeader(before, after)?.name).toBe("bo");
  });

  it("stays quiet when #1 only improves, and on the first board", () => {
    const before = board(entry("ada", 1, 0.9));
    expect(newLeader(before, board(entry("ada", 1, 0.95)))).toBeNull();
    expect(newLeader(null, before)).toBeNull();
  });

  it("celebrates the first score of the event", () => {
    expect(newLeader(board(), board(entry("ada", 1, 0.4)))?.name).toBe("ada");
  });
});
