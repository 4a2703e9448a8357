import { describe, expect, it } from "vitest";
import { ApiError } from "./api";
import { errorMessage, hasCountdown } from "./errors";
import { translate, type MessageKey } from "./i18n";

const en = (key: MessageKey, params?: Record<string, string | number>) => translate("en", key, params);
const ko = (key: MessageKey, params?: Record<string, string | number>) => translate("ko", key, params);

describe("errorMessage", () => {
  it("counts down RATE_LIMITED and BUSY", () => {
    const limited = new ApiError("RATE_LIMITED", "slow", undefined, 7.2);
    expect(hasCountdown(limited)).toBe(true);
    expect(errorMessage(limited, en)).toBe("Whoa, slow down! You can send again in 8 s.");
    expect(errorMessage(limited, en, 3)).toBe("Whoa, slow down! You can send again in 3 s.");
    expect(errorMessage(limited, en, 0)).toBe("You can send again now.");
    expect(errorMessage(new ApiError("BUSY", "full", undefined, 20), ko, 20)).toBe(
      "지금 그림 기계가 아주 바빠요. 20초 후에 다시 시도해 주세요.",
    );
  });

  it("counts down UNAVAILABLE while a part restarts", () => {
    const down = ApiError.fromGraphQL({ message: "x", extensions: { code: "UNAVAILABLE", retryAfter: 2 } });
    expect(hasCountdown(down)).toBe(true);
    expect(errorMessage(down, en)).toBe("The booth is restarting a part. Please try again in 2 s.");
    expect(errorMessage(down, en, 0)).toBe("The booth is restarting a part. Please try again.");
  });

  it("says a join's limit in its own words, counting down too", () => {
    const limited = new ApiError("RATE_LIMITED", "too many joins at once; try again in 5 s", undefined, 4.2);
    expect(errorMessage(limited, en, undefined, "join")).toBe(
      "Too many people joined from this network just now. Please try again in 5 s.",
    );
    expect(errorMessage(limited, ko, 2, "join")).toBe("이 네트워크에서 방금 너무 많은 사람이 참가했어요. 2초 후에 다시 시도해 주세요.");
    expect(errorMessage(limited, en, 0, "join")).toBe("You can join now.");
    // Codes without a join text read as anywhere else.
    expect(errorMessage(new ApiError("CAPTCHA_REQUIRED", "x"), en, undefined, "join")).toBe("Please finish the quick check first.");
  });

  it("names the reason of INVALID_INPUT", () => {
    expect(errorMessage(new ApiError("INVALID_INPUT", "x", "blocked"), en)).toBe(
      "That contains a word we can't accept. Please use different words.",
    );
    expect(errorMessage(new ApiError("INVALID_INPUT", "x", "something_new"), en)).toBe("Please check what you typed.");
  });

  it("has a message for every code", () => {
    const codes = [
      "INVALID_INPUT", "UNAUTHENTICATED", "FORBIDDEN", "NICKNAME_TAKEN", "EVENT_CLOSED", "NOT_FOUND",
      "CAPTCHA_REQUIRED", "CAPTCHA_INVALID", "RATE_LIMITED", "IN_FLIGHT", "BUSY", "BANNED", "UNAVAILABLE",
      "INTERNAL", "NETWORK", "UNSUPPORTED", "BAD_REQUEST", "METHOD_NOT_ALLOWED", "UNSUPPORTED_MEDIA_TYPE",
      "PAYLOAD_TOO_LARGE", "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED",
    ] as const;
    for (const code of codes) {
      for (const t of [en, ko]) {
        const message = errorMessage(new ApiError(code, "server text"), t);
        expect(message).not.toMatch(/^err\./);
        expect(message).not.toBe("server text");
      }
    }
  });
});

describe("ApiError.fromGraphQL", () => {
  it("reads code, reason, retryAfter and other extensions", () => {
    const error = ApiError.fromGraphQL({
      message: "busy",
      extensions: { code: "IN_FLIGHT", submissionId: "01a1" },
    });
    expect(error.code).toBe("IN_FLIGHT");
    expect(error.details.submissionId).toBe("01a1");
    const limited = ApiError.fromGraphQL({ message: "x", extensions: { code: "RATE_LIMITED", retryAfter: 3.5 } });
    expect(limited.retryAfter).toBe(3.5);
  });

  it("calls a schema validation error UNSUPPORTED", () => {
    const error = ApiError.fromGraphQL({
      message: "Cannot query field 'hideSubmission' on type 'Mutation'.",
      extensions: { code: "GRAPHQL_VALIDATION_FAILED" },
    });
    expect(error.code).toBe("UNSUPPORTED");
  });

  it("treats unknown codes as INTERNAL", () => {
    expect(ApiError.fromGraphQL({ message: "?", extensions: { code: "WHATEVER" } }).code).toBe("INTERNAL");
  });
});
