/** Shapes of the GraphQL API's objects, as the pages select them. */

export type EventStatus = "OPEN" | "CLOSED";
export type SubmissionStatus = "QUEUED" | "GENERATING" | "DONE" | "FAILED";

export interface ContestEvent {
  id: string;
  title: string;
  targetImageUrl: string;
  status: EventStatus;
  participantCount: number;
  submissionCount: number;
}

export interface LeaderboardEntry {
  id: string;
  name: string;
  score: number;
  imageUrl: string;
  rank: number;
}

export interface Drawing {
  id: string;
  name: string;
  score: number;
  imageUrl: string;
  /** Only where the server offers it to organisers (moderation). */
  prompt?: string | null;
  participantId?: string | null;
}

export interface Leaderboard {
  submissions: LeaderboardEntry[];
  lastUpdatedAt: number;
  participantCount: number;
  submissionCount: number;
  latest: Drawing[];
  frozen: boolean;
}

export interface Submission {
  id: string;
  prompt: string;
  status: SubmissionStatus;
  score: number | null;
  imageUrl: string | null;
  deduplicated: boolean;
  createdAt: number;
  queuePosition: number | null;
  etaSeconds: number | null;
  error: string | null;
}

export interface Participant {
  id: string;
  nickname: string;
  bestScore: number | null;
  rank: number | null;
  submissions: Submission[];
}

export interface Session {
  token: string;
  participant: Participant;
}

export type CaptchaProvider = "altcha" | "turnstile" | "hcaptcha" | "recaptcha" | "off";

export interface ClientConfig {
  captcha: { provider: CaptchaProvider; siteKey: string; challengeUrl: string };
  playUrl: string;
  /** Optional; the server's defaults apply when absent. */
  limits?: { promptMaxChars?: number; nicknameMaxChars?: number };
}

export const DEFAULT_PROMPT_MAX_CHARS = 300;
export const DEFAULT_NICKNAME_MAX_CHARS = 24;

export function isFinished(submission: Pick<Submission, "status">): boolean {
  return submission.status === "DONE" || submission.status === "FAILED";
}
