/**
 * Korean and English text. The language comes from a saved choice, then `?lang=`,
 * then the browser's languages; {@link setLang} switches it live.
 */
import { createStore, useStore } from "./store";

export type Lang = "en" | "ko";
export const LANGS: readonly Lang[] = ["en", "ko"];

const en = {
  "brand": "Lookalike",
  "lang.switch": "한국어",
  "lang.switchLabel": "Switch language to Korean",
  "conn.live": "Live",
  "conn.connecting": "Connecting…",
  "conn.reconnecting": "Reconnecting…",
  "conn.offline": "Offline",
  "conn.lastUpdate": "last update {ago}",
  "time.justNow": "just now",
  "time.seconds": "{n} s ago",
  "time.minutes": "{n} min ago",
  "time.hours": "{n} h ago",
  "image.unavailable": "Picture not available",
  "load.failed": "Can't reach the contest server.",
  "load.retry": "Try again",
  "load.noEvent": "The contest hasn't started yet. This page will update by itself.",
  "banner.offline": "You're offline. We'll reconnect by ourselves.",
  "banner.reconnecting": "Connection is shaky. Reconnecting…",
  "play.target": "Target",
  "play.targetHint": "Describe this picture in words. The closer the AI's drawing, the higher your score.",
  "join.title": "Join the contest",
  "join.nickname": "Nickname",
  "join.placeholder": "Shown on the big screen",
  "join.help": "Up to {n} characters. Everyone will see it.",
  "join.submit": "Join",
  "join.joining": "Joining…",
  "join.wait": "Wait {s} s",
  "join.contact": "Contact for prizes (optional)",
  "join.contactPlaceholder": "Email or phone number",
  "join.consent": "Keep my contact so the organisers can reach me if I win.",
  "join.consentNeeded": "Tick the box to let us keep your contact, or leave the contact empty.",
  "me.hello": "Hi, {name}",
  "me.best": "Best",
  "me.rank": "Rank",
  "me.drawings": "Drawings",
  "me.claimCode": "Your prize code",
  "me.claimHelp": "If you win, show this code to the booth staff.",
  "prompt.label": "Your prompt",
  "prompt.placeholder": "e.g. a yellow rubber duck next to a white swan, cartoon style",
  "prompt.submit": "Draw it!",
  "prompt.sending": "Sending…",
  "prompt.verifying": "Checking you're human…",
  "prompt.wait": "Wait {s} s",
  "prompt.busy": "Drawing in progress…",
  "prompt.closed": "Contest closed",
  "prompt.rule": "Fair play: a prompt counts for whoever sent it first, and prompts stay private until the organisers reveal the best ones.",
  "captcha.label": "Quick check",
  "captcha.unavailable": "The check could not load. Reload the page to try again.",
  "status.queued": "In line",
  "status.position": "#{n} in line",
  "status.eta": "ready in about {s} s",
  "status.etaSoon": "almost there",
  "status.generating": "Drawing…",
  "status.done": "Your drawing",
  "status.failed": "The drawing failed",
  "status.failedHint": "That wasn't your fault. Please try again.",
  "result.similarity": "Similarity",
  "result.newBest": "New personal best!",
  "result.dedup": "This prompt was drawn before. Same prompt, same picture: change some words for a new one.",
  "result.copied": "Already drawn by someone else: you see their picture and score, but it does not count for you. Write your own prompt!",
  "result.hidden": "An organiser hid this picture.",
  "result.tryAgain": "Change a few words and try again!",
  "result.yourRank": "You're #{rank} of {total}",
  "history.title": "Your drawings",
  "history.empty": "Your drawings will show up here.",
  "history.reuse": "Edit this prompt",
  "history.show": "Show",
  "err.INVALID_INPUT": "Please check what you typed.",
  "err.INVALID_INPUT.empty": "Please write something first.",
  "err.INVALID_INPUT.too_long": "That's too long. Please shorten it.",
  "err.INVALID_INPUT.control_characters": "Please remove invisible special characters.",
  "err.INVALID_INPUT.blocked": "That contains a word we can't accept. Please use different words.",
  "err.INVALID_INPUT.consent_required": "Tick the box to let us keep your contact, or leave the contact empty.",
  "err.UNAUTHENTICATED": "Your session has ended. Please join again.",
  "err.FORBIDDEN": "You're not allowed to do that.",
  "err.NICKNAME_TAKEN": "That nickname is taken. Please pick another one.",
  "err.EVENT_CLOSED": "The contest has ended. Thanks for playing!",
  "err.NOT_FOUND": "We couldn't find that.",
  "err.CAPTCHA_REQUIRED": "Please finish the quick check first.",
  "err.CAPTCHA_INVALID": "The quick check didn't pass. Please try again.",
  "err.RATE_LIMITED": "Whoa, slow down! You can send again in {s} s.",
  "err.RATE_LIMITED.over": "You can send again now.",
  "err.RATE_LIMITED.join": "Too many people joined from this network just now. Please try again in {s} s.",
  "err.RATE_LIMITED.join.over": "You can join now.",
  "err.IN_FLIGHT": "Your previous drawing is still in progress. Wait for it to finish.",
  "err.BUSY": "The drawing machine is very busy. Please try again in {s} s.",
  "err.BUSY.over": "The drawing machine is very busy. Please try again.",
  "err.BANNED": "You can't take part any more. Please talk to the booth staff.",
  "err.UNAVAILABLE": "The booth is restarting a part. Please try again in {s} s.",
  "err.UNAVAILABLE.over": "The booth is restarting a part. Please try again.",
  "err.INTERNAL": "Something went wrong on our side. Please try again.",
  "err.NETWORK": "Can't reach the server. Check your connection and try again.",
  "err.UNSUPPORTED": "This server doesn't support that yet.",
  "err.BAD_REQUEST": "This page is out of date. Please reload it.",
  "board.target": "Target",
  "board.scan": "Scan to play",
  "board.howTo": "Describe the picture in words. AI draws it. Closest wins!",
  "board.players": "players",
  "board.drawings": "drawings",
  "board.latest": "Just drawn",
  "board.empty": "No scores yet. Be the first!",
  "board.newLeader": "New #1!",
  "board.frozen": "Final standings — frozen",
  "board.closed": "Contest closed: final results",
  "board.stale": "Connection lost. This is the board as of {time}.",
  "announce.queued": "In line, number {n}.",
  "announce.queuedNoPosition": "In line.",
  "announce.generating": "Drawing your prompt now.",
  "announce.done": "Drawn. Similarity {score}.",
  "announce.failed": "The drawing failed. Please try again.",
  "announce.rank": "You're now number {rank} of {total}.",
  "share.save": "Save a share card",
  "share.saving": "Making your card…",
  "share.failed": "The card could not be made. Please try again.",
  "share.myDrawing": "My drawing",
  "share.rank": "Rank #{rank} of {total}",
  "results.title": "Results",
  "results.podium": "Podium",
  "results.top": "Top drawings",
  "results.empty": "No scores yet.",
  "results.running": "The contest is still on: these are the standings so far.",
  "results.promptsHidden": "The prompts stay secret until the organisers reveal them.",
  "results.prompt": "Prompt",
  "results.rank": "#{rank}",
  "results.play": "Play",
} as const;

export type MessageKey = keyof typeof en;

const ko: Record<MessageKey, string> = {
  "brand": "Lookalike",
  "lang.switch": "English",
  "lang.switchLabel": "영어로 바꾸기",
  "conn.live": "실시간",
  "conn.connecting": "연결 중…",
  "conn.reconnecting": "다시 연결하는 중…",
  "conn.offline": "오프라인",
  "conn.lastUpdate": "마지막 업데이트 {ago}",
  "time.justNow": "방금",
  "time.seconds": "{n}초 전",
  "time.minutes": "{n}분 전",
  "time.hours": "{n}시간 전",
  "image.unavailable": "그림을 불러올 수 없어요",
  "load.failed": "대회 서버에 연결할 수 없어요.",
  "load.retry": "다시 시도",
  "load.noEvent": "대회가 아직 시작되지 않았어요. 시작되면 이 화면이 저절로 바뀌어요.",
  "banner.offline": "오프라인 상태예요. 연결되면 자동으로 이어서 할게요.",
  "banner.reconnecting": "연결이 불안정해요. 다시 연결하는 중…",
  "play.target": "목표 그림",
  "play.targetHint": "이 그림을 글로 묘사해 보세요. AI가 그린 그림이 비슷할수록 점수가 높아요.",
  "join.title": "대회 참가하기",
  "join.nickname": "닉네임",
  "join.placeholder": "대형 화면에 표시돼요",
  "join.help": "최대 {n}자. 모두에게 보여요.",
  "join.submit": "참가하기",
  "join.joining": "참가하는 중…",
  "join.wait": "{s}초 기다려 주세요",
  "join.contact": "경품 연락처 (선택)",
  "join.contactPlaceholder": "이메일 또는 전화번호",
  "join.consent": "당첨되면 운영자가 연락할 수 있도록 연락처를 보관하는 데 동의해요.",
  "join.consentNeeded": "연락처를 보관하려면 동의에 체크하거나, 연락처를 비워 주세요.",
  "me.hello": "{name} 님, 안녕하세요",
  "me.best": "최고 점수",
  "me.rank": "순위",
  "me.drawings": "그린 그림",
  "me.claimCode": "경품 수령 코드",
  "me.claimHelp": "당첨되면 이 코드를 부스 스태프에게 보여 주세요.",
  "prompt.label": "프롬프트",
  "prompt.placeholder": "예: 하얀 백조 옆에 있는 노란 고무 오리, 만화 스타일",
  "prompt.submit": "그려 줘!",
  "prompt.sending": "보내는 중…",
  "prompt.verifying": "사람인지 확인하는 중…",
  "prompt.wait": "{s}초 기다려 주세요",
  "prompt.busy": "그리는 중…",
  "prompt.closed": "대회 종료",
  "prompt.rule": "공정한 경기: 프롬프트는 먼저 보낸 사람의 것이에요. 운영자가 상위 프롬프트를 공개할 때까지 프롬프트는 비공개예요.",
  "captcha.label": "간단한 확인",
  "captcha.unavailable": "확인 도구를 불러오지 못했어요. 페이지를 새로 고쳐 주세요.",
  "status.queued": "대기 중",
  "status.position": "대기 {n}번째",
  "status.eta": "약 {s}초 후 완성",
  "status.etaSoon": "거의 다 됐어요",
  "status.generating": "그리는 중…",
  "status.done": "내 그림",
  "status.failed": "그림을 그리지 못했어요",
  "status.failedHint": "내 잘못이 아니에요. 다시 시도해 주세요.",
  "result.similarity": "유사도",
  "result.newBest": "개인 최고 기록!",
  "result.dedup": "이미 그려진 프롬프트예요. 같은 프롬프트는 같은 그림이 나와요. 단어를 바꿔 보세요.",
  "result.copied": "다른 참가자가 먼저 그린 프롬프트예요. 그림과 점수는 보여 드리지만 내 기록에는 들어가지 않아요. 나만의 프롬프트를 써 보세요!",
  "result.hidden": "운영자가 이 그림을 숨겼어요.",
  "result.tryAgain": "단어를 조금 바꿔서 다시 도전해 보세요!",
  "result.yourRank": "{total}명 중 {rank}위",
  "history.title": "내 그림",
  "history.empty": "그린 그림이 여기에 표시돼요.",
  "history.reuse": "이 프롬프트 고치기",
  "history.show": "보기",
  "err.INVALID_INPUT": "입력한 내용을 확인해 주세요.",
  "err.INVALID_INPUT.empty": "먼저 내용을 입력해 주세요.",
  "err.INVALID_INPUT.too_long": "너무 길어요. 조금 줄여 주세요.",
  "err.INVALID_INPUT.control_characters": "보이지 않는 특수 문자를 지워 주세요.",
  "err.INVALID_INPUT.blocked": "사용할 수 없는 단어가 들어 있어요. 다른 단어로 바꿔 주세요.",
  "err.INVALID_INPUT.consent_required": "연락처를 보관하려면 동의에 체크하거나, 연락처를 비워 주세요.",
  "err.UNAUTHENTICATED": "세션이 끝났어요. 다시 참가해 주세요.",
  "err.FORBIDDEN": "이 작업을 할 권한이 없어요.",
  "err.NICKNAME_TAKEN": "이미 사용 중인 닉네임이에요. 다른 닉네임을 골라 주세요.",
  "err.EVENT_CLOSED": "대회가 끝났어요. 참여해 주셔서 감사합니다!",
  "err.NOT_FOUND": "찾을 수 없어요.",
  "err.CAPTCHA_REQUIRED": "먼저 간단한 확인을 완료해 주세요.",
  "err.CAPTCHA_INVALID": "확인에 실패했어요. 다시 시도해 주세요.",
  "err.RATE_LIMITED": "너무 빨라요! {s}초 후에 다시 보낼 수 있어요.",
  "err.RATE_LIMITED.over": "이제 다시 보낼 수 있어요.",
  "err.RATE_LIMITED.join": "이 네트워크에서 방금 너무 많은 사람이 참가했어요. {s}초 후에 다시 시도해 주세요.",
  "err.RATE_LIMITED.join.over": "이제 참가할 수 있어요.",
  "err.IN_FLIGHT": "이전 그림을 아직 그리는 중이에요. 끝날 때까지 기다려 주세요.",
  "err.BUSY": "지금 그림 기계가 아주 바빠요. {s}초 후에 다시 시도해 주세요.",
  "err.BUSY.over": "지금 그림 기계가 아주 바빠요. 다시 시도해 주세요.",
  "err.BANNED": "더 이상 참여할 수 없어요. 부스 스태프에게 문의해 주세요.",
  "err.UNAVAILABLE": "부스 장비를 다시 시작하는 중이에요. {s}초 후에 다시 시도해 주세요.",
  "err.UNAVAILABLE.over": "부스 장비를 다시 시작하는 중이에요. 다시 시도해 주세요.",
  "err.INTERNAL": "서버에 문제가 생겼어요. 다시 시도해 주세요.",
  "err.NETWORK": "서버에 연결할 수 없어요. 연결 상태를 확인하고 다시 시도해 주세요.",
  "err.UNSUPPORTED": "이 서버는 아직 이 기능을 지원하지 않아요.",
  "err.BAD_REQUEST": "페이지가 오래되었어요. 새로 고쳐 주세요.",
  "board.target": "목표 그림",
  "board.scan": "QR 코드로 참여하세요",
  "board.howTo": "그림을 글로 설명하면 AI가 그려요. 가장 비슷하게 그리면 우승!",
  "board.players": "참가자",
  "board.drawings": "그림",
  "board.latest": "방금 그린 그림",
  "board.empty": "아직 점수가 없어요. 첫 번째 도전자가 되어 보세요!",
  "board.newLeader": "새로운 1위!",
  "board.frozen": "최종 순위 — 고정됨",
  "board.closed": "대회 종료: 최종 결과",
  "board.stale": "연결이 끊겼어요. {time} 기준 순위예요.",
  "announce.queued": "대기 {n}번째예요.",
  "announce.queuedNoPosition": "대기 중이에요.",
  "announce.generating": "지금 그리고 있어요.",
  "announce.done": "완성! 유사도 {score}.",
  "announce.failed": "그림을 그리지 못했어요. 다시 시도해 주세요.",
  "announce.rank": "지금 {total}명 중 {rank}위예요.",
  "share.save": "공유 카드 저장",
  "share.saving": "카드를 만드는 중…",
  "share.failed": "카드를 만들지 못했어요. 다시 시도해 주세요.",
  "share.myDrawing": "내 그림",
  "share.rank": "{total}명 중 {rank}위",
  "results.title": "결과",
  "results.podium": "시상대",
  "results.top": "상위 그림",
  "results.empty": "아직 점수가 없어요.",
  "results.running": "대회가 아직 진행 중이에요. 지금까지의 순위예요.",
  "results.promptsHidden": "프롬프트는 주최 측이 공개할 때까지 비밀이에요.",
  "results.prompt": "프롬프트",
  "results.rank": "{rank}위",
  "results.play": "참여하기",
};

const DICTIONARIES: Record<Lang, Record<MessageKey, string>> = { en, ko };
const STORAGE_KEY = "lookalike.lang";

export function detectLang(
  saved: string | null,
  search: string,
  browserLanguages: readonly string[],
): Lang {
  const fromQuery = new URLSearchParams(search).get("lang");
  for (const candidate of [saved, fromQuery]) {
    if (candidate === "en" || candidate === "ko") return candidate;
  }
  for (const language of browserLanguages) {
    const base = language.toLowerCase().split("-")[0];
    if (base === "ko" || base === "en") return base;
  }
  return "en";
}

function readSaved(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage blocked (private mode on some phones)
  }
}

export const lang = createStore<Lang>(
  typeof window === "undefined"
    ? "en"
    : detectLang(readSaved(), location.search, navigator.languages ?? [navigator.language]),
);

function applyDocumentLang(value: Lang) {
  if (typeof document !== "undefined") document.documentElement.lang = value;
}
applyDocumentLang(lang.get());
lang.subscribe(applyDocumentLang);

export function setLang(value: Lang) {
  try {
    localStorage.setItem(STORAGE_KEY, value);
  } catch {
    // not saved; the choice still applies to this page
  }
  lang.set(value);
}

export type Params = Record<string, string | number>;

export function translate(language: Lang, key: MessageKey, params: Params = {}): string {
  return fill(DICTIONARIES[language][key] ?? en[key], params);
}

/** `{name}` in a template replaced by `params.name`, as text (never markup). */
export function fill(template: string, params: Params = {}): string {
  return template.replace(/\{(\w+)\}/g, (match, name: string) =>
    name in params ? String(params[name]) : match,
  );
}

export function hasKey(key: string): key is MessageKey {
  return key in en;
}

export type Translate = (key: MessageKey, params?: Params) => string;

/** The current language and a `t` bound to it; re-renders on a switch. */
export function useI18n(): { lang: Lang; t: Translate } {
  const current = useStore(lang);
  return { lang: current, t: (key, params) => translate(current, key, params) };
}
