/** Shapes of the GraphQL API's objects, as the pages select them. */

/** SCHEDULED: not open yet (see `opensAt`). */
export type EventStatus = "OPEN" | "CLOSED" | "SCHEDULED";
export type SubmissionStatus = "QUEUED" | "GENERATING" | "DONE" | "FAILED";

export interface ContestEvent {
  id: string;
  title: string;
  targetImageUrl: string;
  status: EventStatus;
  participantCount: number;
  submissionCount: number;
  /** The public board shows frozen standings (organisers still see live ones). */
  frozen?: boolean;
  /** Joining needs a solved captcha. */
  joinCaptcha?: boolean;
}

export interface LeaderboardEntry {
  id: string;
  name: string;
  score: number;
  imageUrl: string;
  rank: number;
  /** Private until the organisers reveal the best prompts (then on the board). */
  prompt?: string | null;
}

/** A place in the final results: the prompt is null until the organisers reveal it. */
export interface ResultEntry extends LeaderboardEntry {
  prompt: string | null;
}

export interface Results {
  event: ContestEvent & { promptsRevealed: boolean };
  leaderboard: { submissions: ResultEntry[]; participantCount: number; submissionCount: number; frozen: boolean };
}

export interface Drawing {
  id: string;
  name: string;
  score: number;
  imageUrl: string;
}

export interface Leaderboard {
  /** The board's event; a board without an event id follows the current event. */
  eventId: string;
  submissions: LeaderboardEntry[];
  lastUpdatedAt: number;
  participantCount: number;
  submissionCount: number;
  latest: Drawing[];
  frozen: boolean;
  /** The server cannot reach the contest state: this is the last known board. */
  stale?: boolean;
}

export interface Submission {
  id: string;
  prompt: string;
  status: SubmissionStatus;
  score: number | null;
  imageUrl: string | null;
  deduplicated: boolean;
  /** Another participant drew this prompt first: shown, never ranked. */
  copied: boolean;
  /** An organiser hid the picture (imageUrl is then null). */
  hidden: boolean;
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
  /** Short code the winner shows booth staff to claim a prize. */
  claimCode?: string;
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

// ------------------------------------------------------------ organiser console

export interface OrganiserEvent extends ContestEvent {
  opensAt: number | null;
  closesAt: number | null;
  holdForReview: boolean;
  frozen: boolean;
  frozenAt: number | null;
  /** The event /play and /board show. */
  current: boolean;
  createdAt: number;
  /** The boards show the best entries' prompts now. */
  promptsRevealed: boolean;
  joinCaptcha: boolean;
}

export type ReviewState = "NONE" | "PENDING" | "APPROVED";

/** A drawing as organisers see it: prompt, author and moderation state. */
export interface ModeratedSubmission {
  id: string;
  participantId: string;
  nickname: string;
  prompt: string;
  status: SubmissionStatus;
  score: number | null;
  imageUrl: string | null;
  deduplicated: boolean;
  hidden: boolean;
  review: ReviewState;
  createdAt: number;
  finishedAt: number | null;
  /** Another participant sent this prompt first: it shares their picture, never ranks. */
  copied: boolean;
  /** The first drawing of this prompt (its own id on a first drawing). */
  canonicalId: string | null;
  /** On a first drawing: other participants' later submissions of its prompt. */
  copies: Pick<ModeratedSubmission, "id" | "participantId" | "nickname" | "createdAt">[];
}

/** A participant as organisers see it, with the live standing. */
export interface Player {
  id: string;
  nickname: string;
  staff: boolean;
  banned: boolean;
  createdAt: number;
  claimCode: string;
  submissionCount: number;
  bestScore: number | null;
  rank: number | null;
}

export type PlayerFlags = Pick<Player, "id" | "staff" | "banned">;

export interface OrganiserSession {
  name: string;
  expiresAt: number;
}

export interface AuditEntry {
  id: string;
  at: number;
  who: string;
  source: string;
  action: string;
  eventId: string;
  target: string;
  before: unknown;
  after: unknown;
}

export interface RaffleCandidate {
  participantId: string;
  nickname: string;
  rank: number;
  score: number;
  ticket: string;
}

export interface Raffle {
  id: string;
  eventId: string;
  seed: string;
  count: number;
  top: number | null;
  status: "PREPARED" | "DRAWN";
  /** In board order. */
  candidates: RaffleCandidate[];
  /** In draw order; empty until drawn. */
  winners: RaffleCandidate[];
  absent: string[];
  createdAt: number;
  drawnAt: number | null;
  algorithm: string;
}
