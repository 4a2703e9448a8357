import { describe, expect, it } from "vitest";
import { detectLang, translate } from "./i18n";

describe("detectLang", () => {
  it("prefers a saved choice, then ?lang=, then the browser", () => {
    expect(detectLang("ko", "?lang=en", ["en-US"])).toBe("ko");
    expect(detectLang(null, "?lang=ko", ["en-US"])).toBe("ko");
    expect(detectLang(null, "", ["ko-KR", "en"])).toBe("ko");
    expect(detectLang(null, "", ["fr-FR", "en-GB"])).toBe("en");
  });

  it("falls back to English", () => {
    expect(detectLang(null, "", ["ja-JP"])).toBe("en");
    expect(detectLang("xx", "?lang=de", [])).toBe("en");
  });
});

describe("translate", () => {
  it("fills parameters", () => {
    expect(translate("en", "err.RATE_LIMITED", { s: 12 })).toBe("Whoa, slow down! You can send again in 12 s.");
    expect(translate("ko", "err.RATE_LIMITED", { s: 12 })).toBe("너무 빨라요! 12초 후에 다시 보낼 수 있어요.");
  });

  it("leaves parameter text alone instead of interpreting it", () => {
    expect(translate("en", "me.hello", { name: "<b>{s}</b>" })).toBe("Hi, <b>{s}</b>");
  });
});
