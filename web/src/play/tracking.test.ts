import { describe, expect, it } from "vitest";
import type { Submission } from "../types";
import { cleanPrompt, etaLeft, merge, track, upsert } from "./tracking";

function submission(overrides: Partial<Submission> = {}): Submission {
  return {
    id: "01a",
    prompt: "a duck",
    status: "QUEUED",
    score: null,
    imageUrl: null,
    deduplicated: false,
    copied: false,
    hidden: false,
    createdAt: 100,
    queuePosition: 3,
    etaSeconds: 12,
    error: null,
    ...overrides,
  };
}

describe("merge", () => {
  it("moves forward through the stages", () => {
    const queued = track(submission(), 0);
    const drawing = merge(queued, submission({ status: "GENERATING", queuePosition: null }), 1_000);
    expect(drawing.submission.status).toBe("GENERATING");
    const done = merge(drawing, submission({ status: "DONE", score: 0.5 }), 2_000);
    expect(done.submission.score).toBe(0.5);
  });

  it("ignores older news that arrives late", () => {
    const done = track(submission({ status: "DONE", score: 0.5 }), 0);
    expect(merge(done, submission({ status: "QUEUED" }), 1_000)).toBe(done);
    const drawing = track(submission({ status: "GENERATING" }), 0);
    expect(merge(drawing, submission({ status: "QUEUED" }), 1_000)).toBe(drawing);
  });

  it("takes queue updates within a stage", () => {
    const queued = track(submission({ queuePosition: 3 }), 0);
    expect(merge(queued, submission({ queuePosition: 1 }), 5).submission.queuePosition).toBe(1);
  });

  it("starts over for another submission", () => {
    const other = merge(track(submission({ status: "DONE" }), 0), submission({ id: "01b" }), 7);
    expect(other.submission.id).toBe("01b");
    expect(other.receivedAt).toBe(7);
  });
});

describe("etaLeft", () => {
  it("counts down from when the estimate arrived", () => {
    const tracked = track(submission({ etaSeconds: 12 }), 1_000);
    expect(etaLeft(tracked, 1_000)).toBe(12);
    expect(etaLeft(tracked, 6_500)).toBe(7);
    expect(etaLeft(tracked, 60_000)).toBe(0);
    expect(etaLeft(track(submission({ etaSeconds: null }), 0), 0)).toBeNull();
  });
});

describe("upsert", () => {
  it("keeps one entry per id, newest first", () => {
    const list = [submission({ id: "01a", createdAt: 1 }), submission({ id: "01b", createdAt: 2 })];
    const updated = upsert(list, submission({ id: "01a", createdAt: 1, status: "DONE" }));
    expect(updated.map((s) => s.id)).toEqual(["01b", "01a"]);
    expect(updated[1].status).toBe("DONE");
    expect(upsert(updated, submission({ id: "01c", createdAt: 3 }))[0].id).toBe("01c");
  });
});

describe("cleanPrompt", () => {
  it("turns line breaks into spaces and drops control characters", () => {
    expect(cleanPrompt("  a duck\n\non a\tpond \u0007 ")).toBe("a duck on a pond");
    expect(cleanPrompt("\n \t")).toBe("");
  });
});
