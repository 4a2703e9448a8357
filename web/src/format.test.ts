import { describe, expect, it } from "vitest";
import { ago, percent, secondsLeft } from "./format";
import { translate } from "./i18n";

describe("percent", () => {
  it("shows a fraction as a percentage with two decimals", () => {
    expect(percent(0.5910864472389221)).toBe("59.11%");
    expect(percent(0.5)).toBe("50.00%");
    expect(percent(1)).toBe("100.00%");
    expect(percent(0)).toBe("0.00%");
  });

  it("keeps near-equal scores apart at two decimals", () => {
    expect(percent(0.91234)).not.toBe(percent(0.91254));
  });

  it("clamps out-of-range scores and dashes missing ones", () => {
    expect(percent(1.2)).toBe("100.00%");
    expect(percent(-0.1)).toBe("0.00%");
    expect(percent(null)).toBe("–");
    expect(percent(undefined)).toBe("–");
    expect(percent(Number.NaN)).toBe("–");
  });
});

describe("time", () => {
  const t = (key: Parameters<typeof translate>[1], params?: Record<string, string | number>) =>
    translate("en", key, params);

  it("counts whole seconds down to zero", () => {
    expect(secondsLeft(10_500, 0)).toBe(11);
    expect(secondsLeft(10_000, 10_000)).toBe(0);
    expect(secondsLeft(0, 5_000)).toBe(0);
  });

  it("says how long ago", () => {
    expect(ago(0, 2_000, t)).toBe("just now");
    expect(ago(0, 42_000, t)).toBe("42 s ago");
    expect(ago(0, 180_000, t)).toBe("3 min ago");
    expect(ago(0, 7_200_000, t)).toBe("2 h ago");
    expect(ago(0, 180_000, (key, params) => translate("ko", key, params))).toBe("3분 전");
  });
});
