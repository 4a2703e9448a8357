import { describe, expect, it } from "vitest";
import { describeChange } from "./audit";
import { auditUrl, drawingsUrl, submissionsUrl, winnersUrl } from "./exports";
import { normaliseClaimCode } from "./claim";
import { fromLocalInput, scheduleProblem, toLocalInput } from "./schedule";

describe("export links", () => {
  it("point at the organiser's download routes", () => {
    expect(winnersUrl("current", "csv")).toBe("/admin/export/current/winners.csv");
    expect(winnersUrl("0190-ab", "json", 10)).toBe("/admin/export/0190-ab/winners.json?top=10");
    expect(winnersUrl("e", "csv", 0)).toBe("/admin/export/e/winners.csv");
    expect(submissionsUrl("e/1", "csv")).toBe("/admin/export/e%2F1/submissions.csv");
    expect(drawingsUrl("current")).toBe("/admin/export/current/drawings.zip");
    expect(auditUrl("json")).toBe("/admin/export/audit.json");
    expect(auditUrl("csv", "e 1")).toBe("/admin/export/audit.csv?eventId=e%201");
  });
});

describe("schedule inputs", () => {
  it("round-trip local times through unix seconds", () => {
    const seconds = new Date(2025, 5, 10, 9, 30).getTime() / 1000;
    expect(toLocalInput(seconds)).toBe("2025-06-10T09:30");
    expect(fromLocalInput("2025-06-10T09:30")).toBe(seconds);
    expect(fromLocalInput("2025-06-10T09:30:15")).toBe(seconds + 15);
  });

  it("treat empty and broken values as no time", () => {
    expect(toLocalInput(null)).toBe("");
    expect(fromLocalInput("")).toBeNull();
    expect(fromLocalInput("tomorrow")).toBeNull();
  });

  it("catch a schedule that closes before it opens", () => {
    expect(scheduleProblem(100, 50)).toBe("order");
    expect(scheduleProblem(100, 100)).toBe("order");
    expect(scheduleProblem(100, 200)).toBeNull();
    expect(scheduleProblem(null, 5)).toBeNull();
  });
});

describe("claim codes", () => {
  it("ignore spaces, dashes and case, as staff type them", () => {
    expect(normaliseClaimCode(" k7p-2qx ")).toBe("K7P2QX");
    expect(normaliseClaimCode("K7P 2QX")).toBe("K7P2QX");
  });
});

describe("audit changes", () => {
  it("show only what changed", () => {
    expect(describeChange({ hidden: false }, { hidden: true, reason: "spam" })).toBe('hidden: false → true · reason: "spam"');
    expect(describeChange({ title: "A", frozenAt: null }, { title: "A", frozenAt: 12 })).toBe("frozenAt: null → 12");
    expect(describeChange(null, { format: "csv", top: 10 })).toBe('format: "csv" · top: 10');
  });

  it("count lists and cut ids instead of printing them", () => {
    expect(describeChange({ winners: [] }, { winners: ["a", "b", "c"], status: "DRAWN" })).toBe(
      'winners: [] → [3] · status: "DRAWN"',
    );
    const id = "01a1fd97-6876-709f-ac5e-cdfc188baf88";
    expect(describeChange({ current: null }, { current: id })).toBe("current: null → …cdfc188baf88");
  });

  it("copes with no change at all", () => {
    expect(describeChange(null, null)).toBe("");
    expect(describeChange("x", "y")).toBe('"x" → "y"');
  });
});
