import { describe, expect, it } from "vitest";
import { translate, type MessageKey, type Params } from "../i18n";
import type { ContestEvent, Participant, Submission } from "../types";
import { announcement } from "./announce";
import { cardText, shareCardOf } from "./shareCard";

const t = (key: MessageKey, params?: Params) => translate("en", key, params);
const SECRET = "a secret yellow duck prompt";

const drawn: Submission = {
  id: "01s",
  prompt: SECRET,
  status: "DONE",
  score: 0.5910864472389221,
  imageUrl: "/images/aa.webp",
  deduplicated: false,
  copied: false,
  hidden: false,
  createdAt: 1,
  queuePosition: null,
  etaSeconds: null,
  error: null,
};
const me: Participant = { id: "01p", nickname: "오리", bestScore: 0.59, rank: 3, submissions: [drawn] };
const event: ContestEvent = {
  id: "01e",
  title: "PyCon Booth",
  targetImageUrl: "/images/target.webp",
  status: "OPEN",
  participantCount: 20,
  submissionCount: 40,
};

describe("share card", () => {
  it("shows the drawing, target, score, rank, title and address", () => {
    const card = shareCardOf(drawn, me, event, "https://booth.example/results", t)!;
    expect(card.drawingUrl).toBe("/images/aa.webp");
    expect(card.targetUrl).toBe("/images/target.webp");
    expect(cardText(card)).toEqual(
      expect.arrayContaining(["PyCon Booth", "오리", "59.11%", "Rank #3 of 20", "booth.example/results"]),
    );
  });

  it("never carries the prompt", () => {
    const card = shareCardOf(drawn, me, event, "https://booth.example/results", t);
    expect(JSON.stringify(card)).not.toContain(SECRET);
  });

  it("exists only for a drawn picture of one's own that is not hidden", () => {
    expect(shareCardOf({ ...drawn, status: "GENERATING", imageUrl: null }, me, event, "", t)).toBeNull();
    expect(shareCardOf({ ...drawn, hidden: true }, me, event, "", t)).toBeNull();
    expect(shareCardOf({ ...drawn, copied: true, deduplicated: true }, me, event, "", t)).toBeNull();
    expect(shareCardOf(drawn, { ...me, rank: null }, event, "", t)?.rank).toBeNull();
  });
});

describe("announcement", () => {
  it("says the place in line, the stage, the score and the rank", () => {
    const queued = { ...drawn, status: "QUEUED" as const, score: null, queuePosition: 4 };
    expect(announcement(queued, null, 0, t)).toBe("In line, number 4.");
    expect(announcement({ ...queued, status: "GENERATING" }, null, 0, t)).toBe("Drawing your prompt now.");
    expect(announcement(drawn, 3, 20, t)).toBe("Drawn. Similarity 59.11%. You're now number 3 of 20.");
    expect(announcement(null, 5, 2, t)).toBe("You're now number 5 of 5.");
  });

  it("leaves out the ticking wait estimate", () => {
    const queued = { ...drawn, status: "QUEUED" as const, queuePosition: 2 };
    expect(announcement({ ...queued, etaSeconds: 30 }, 1, 9, t)).toBe(announcement({ ...queued, etaSeconds: 29 }, 1, 9, t));
  });
});
