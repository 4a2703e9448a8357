/** Every GraphQL document the pages send, in one place. */

const SUBMISSION_FIELDS = `
  id prompt status score imageUrl deduplicated copied hidden createdAt queuePosition etaSeconds error`;

const EVENT_FIELDS = `id title targetImageUrl status participantCount submissionCount frozen joinCaptcha`;

const PARTICIPANT_FIELDS = `
  id nickname bestScore rank claimCode
  submissions(first: 20) { ${SUBMISSION_FIELDS} }`;

const LEADERBOARD_FIELDS = `
  eventId
  submissions { id name score imageUrl rank prompt }
  lastUpdatedAt participantCount submissionCount frozen stale
  latest { id name score imageUrl }`;

export const PLAY_STATE = `query PlayState { event { ${EVENT_FIELDS} } me { ${PARTICIPANT_FIELDS} } }`;

export const EVENT = `query Event { event { ${EVENT_FIELDS} } }`;

export const ME = `query Me { me { ${PARTICIPANT_FIELDS} } }`;

export const JOIN = `mutation Join(
  $nickname: String!, $contact: String, $contactConsent: Boolean! = false, $captcha: String
) {
  join(nickname: $nickname, contact: $contact, contactConsent: $contactConsent, captcha: $captcha) {
    token participant { ${PARTICIPANT_FIELDS} }
  }
}`;

export const SUBMIT_PROMPT = `mutation SubmitPrompt($prompt: String!, $captcha: String) {
  submitPrompt(prompt: $prompt, captcha: $captcha) { ${SUBMISSION_FIELDS} }
}`;

export const SUBMISSION = `query Submission($id: ID!) { submission(id: $id) { ${SUBMISSION_FIELDS} } }`;

export const WATCH_SUBMISSION = `subscription WatchSubmission($id: ID!) {
  submission(id: $id) { ${SUBMISSION_FIELDS} }
}`;

export const BOARD_STATE = `query BoardState($first: Int!) {
  event { ${EVENT_FIELDS} }
  leaderboard(first: $first) { ${LEADERBOARD_FIELDS} }
}`;

export const WATCH_LEADERBOARD = `subscription WatchLeaderboard($first: Int!) {
  leaderboard(first: $first) { ${LEADERBOARD_FIELDS} }
}`;

/** The take-home results page: prompts come back null until the organisers reveal them. */
export const RESULTS = `query Results($first: Int!) {
  event { ${EVENT_FIELDS} promptsRevealed }
  leaderboard(first: $first) {
    submissions { id name score imageUrl rank prompt }
    participantCount submissionCount frozen
  }
}`;

// ------------------------------------------------------------ organiser console

const ORGANISER_EVENT_FIELDS = `
  id title targetImageUrl status participantCount submissionCount
  opensAt closesAt holdForReview frozen frozenAt current createdAt promptsRevealed joinCaptcha`;

const MODERATED_FIELDS = `
  id participantId nickname prompt status score imageUrl deduplicated hidden review createdAt finishedAt
  copied canonicalId copies { id participantId nickname createdAt }`;

const PLAYER_FIELDS = `id nickname staff banned createdAt claimCode submissionCount bestScore rank`;

const CANDIDATE_FIELDS = `participantId nickname rank score ticket`;

const RAFFLE_FIELDS = `
  id eventId seed count top status createdAt drawnAt algorithm absent
  candidates { ${CANDIDATE_FIELDS} }
  winners { ${CANDIDATE_FIELDS} }`;

export const ORGANISER = `query Organiser { organiser { name expiresAt } }`;

export const ORGANISER_LOGIN = `mutation OrganiserLogin($password: String!, $name: String!) {
  organiserLogin(password: $password, name: $name) { token name expiresAt }
}`;

export const ORGANISER_LOGOUT = `mutation OrganiserLogout { organiserLogout }`;

export const EVENTS = `query Events { events { ${ORGANISER_EVENT_FIELDS} } }`;

/** The target picture goes to `POST /admin/events/{id}/target` afterwards (organiser.ts). */
export const CREATE_EVENT = `mutation CreateEvent(
  $title: String!, $opensAt: Float, $closesAt: Float, $holdForReview: Boolean!, $makeCurrent: Boolean!
) {
  createEvent(
    title: $title, opensAt: $opensAt, closesAt: $closesAt, holdForReview: $holdForReview,
    makeCurrent: $makeCurrent
  ) { ${ORGANISER_EVENT_FIELDS} }
}`;

export const UPDATE_EVENT = `mutation UpdateEvent($id: ID!, $title: String, $holdForReview: Boolean, $joinCaptcha: Boolean) {
  updateEvent(id: $id, title: $title, holdForReview: $holdForReview, joinCaptcha: $joinCaptcha) {
    ${ORGANISER_EVENT_FIELDS}
  }
}`;

/** Every board shows the prompts of the best `top` entries (0 takes it back). */
export const REVEAL_PROMPTS = `mutation RevealPrompts($eventId: ID!, $top: Int!) {
  revealPrompts(eventId: $eventId, top: $top) { ${ORGANISER_EVENT_FIELDS} }
}`;

export const SET_EVENT_SCHEDULE = `mutation SetEventSchedule($id: ID!, $opensAt: Float, $closesAt: Float) {
  setEventSchedule(id: $id, opensAt: $opensAt, closesAt: $closesAt) { ${ORGANISER_EVENT_FIELDS} }
}`;

/** Event actions that take only the event's id and answer the event. */
export const EVENT_ACTIONS = {
  openEvent: `mutation OpenEvent($id: ID!) { result: openEvent(id: $id) { ${ORGANISER_EVENT_FIELDS} } }`,
  closeEvent: `mutation CloseEvent($id: ID!) { result: closeEvent(id: $id) { ${ORGANISER_EVENT_FIELDS} } }`,
  setCurrentEvent: `mutation SetCurrentEvent($id: ID!) { result: setCurrentEvent(id: $id) { ${ORGANISER_EVENT_FIELDS} } }`,
  freezeLeaderboard: `mutation FreezeLeaderboard($id: ID!) {
    result: freezeLeaderboard(eventId: $id) { ${ORGANISER_EVENT_FIELDS} }
  }`,
  unfreezeLeaderboard: `mutation UnfreezeLeaderboard($id: ID!) {
    result: unfreezeLeaderboard(eventId: $id) { ${ORGANISER_EVENT_FIELDS} }
  }`,
} as const;

export const WATCH_MODERATION_FEED = `subscription ModerationFeed($eventId: ID, $first: Int!) {
  moderationFeed(eventId: $eventId, first: $first) { ${MODERATED_FIELDS} }
}`;

export const WATCH_ORGANISER_LEADERBOARD = `subscription OrganiserLeaderboard($eventId: ID, $first: Int!) {
  organiserLeaderboard(eventId: $eventId, first: $first) {
    submissions { id name score imageUrl rank }
    lastUpdatedAt participantCount submissionCount frozen
  }
}`;

export const REVIEW_QUEUE = `query ReviewQueue($eventId: ID, $first: Int!) {
  reviewQueue(eventId: $eventId, first: $first) { ${MODERATED_FIELDS} }
}`;

/** Moderation actions on one submission; each answers the submission. */
export const SUBMISSION_ACTIONS = {
  hideSubmission: `mutation HideSubmission($id: ID!, $reason: String! = "") {
    result: hideSubmission(id: $id, reason: $reason) { ${MODERATED_FIELDS} }
  }`,
  unhideSubmission: `mutation UnhideSubmission($id: ID!) { result: unhideSubmission(id: $id) { ${MODERATED_FIELDS} } }`,
  approveSubmission: `mutation ApproveSubmission($id: ID!) { result: approveSubmission(id: $id) { ${MODERATED_FIELDS} } }`,
} as const;

/** Actions on one participant; each answers the player. */
export const PLAYER_ACTIONS = {
  banParticipant: `mutation BanParticipant($id: ID!, $reason: String! = "") {
    result: banParticipant(id: $id, reason: $reason) { ${PLAYER_FIELDS} }
  }`,
  unbanParticipant: `mutation UnbanParticipant($id: ID!) { result: unbanParticipant(id: $id) { ${PLAYER_FIELDS} } }`,
  setStaff: `mutation SetStaff($id: ID!, $staff: Boolean!) { result: setStaff(id: $id, staff: $staff) { ${PLAYER_FIELDS} } }`,
} as const;

export const PARTICIPANTS = `query Participants($eventId: ID, $search: String!, $first: Int!) {
  participants(eventId: $eventId, search: $search, first: $first) { ${PLAYER_FIELDS} }
}`;

/** Moderation flags of up to {@link PLAYERS_PER_QUERY} participants in one request. */
export const PLAYERS_PER_QUERY = 12;
export function playersQuery(count: number): string {
  const vars = Array.from({ length: count }, (_, i) => `$p${i}: ID!`).join(", ");
  const fields = Array.from({ length: count }, (_, i) => `p${i}: participant(id: $p${i}) { id staff banned }`).join(" ");
  return `query PlayerFlags(${vars}) { ${fields} }`;
}

export const CLAIM = `query Claim($code: String!, $eventId: ID) {
  claim(code: $code, eventId: $eventId) { ${PLAYER_FIELDS} }
}`;

export const AUDIT_LOG = `query AuditLog($eventId: ID, $first: Int!, $before: String) {
  auditLog(eventId: $eventId, first: $first, before: $before) {
    id at who source action eventId target before after
  }
}`;

export const RAFFLES = `query Raffles($eventId: ID) { raffles(eventId: $eventId) { ${RAFFLE_FIELDS} } }`;

export const PREPARE_RAFFLE = `mutation PrepareRaffle($eventId: ID, $count: Int!, $top: Int, $seed: String) {
  prepareRaffle(eventId: $eventId, count: $count, top: $top, seed: $seed) { ${RAFFLE_FIELDS} }
}`;

export const DRAW_RAFFLE = `mutation DrawRaffle($id: ID!) { drawRaffle(id: $id) { ${RAFFLE_FIELDS} } }`;

export const REDRAW_RAFFLE = `mutation RedrawRaffle($id: ID!, $absent: [ID!]!) {
  redrawRaffle(id: $id, absent: $absent) { ${RAFFLE_FIELDS} }
}`;
