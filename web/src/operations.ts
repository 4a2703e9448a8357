/** Every GraphQL document the pages send, in one place. */

const SUBMISSION_FIELDS = `
  id prompt status score imageUrl deduplicated createdAt queuePosition etaSeconds error`;

const EVENT_FIELDS = `id title targetImageUrl status participantCount submissionCount`;

const PARTICIPANT_FIELDS = `
  id nickname bestScore rank
  submissions(first: 20) { ${SUBMISSION_FIELDS} }`;

const LEADERBOARD_FIELDS = `
  submissions { id name score imageUrl rank }
  lastUpdatedAt participantCount submissionCount frozen
  latest { id name score imageUrl }`;

export const PLAY_STATE = `query PlayState { event { ${EVENT_FIELDS} } me { ${PARTICIPANT_FIELDS} } }`;

export const EVENT = `query Event { event { ${EVENT_FIELDS} } }`;

export const ME = `query Me { me { ${PARTICIPANT_FIELDS} } }`;

export const JOIN = `mutation Join($nickname: String!) {
  join(nickname: $nickname) { token participant { ${PARTICIPANT_FIELDS} } }
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

/**
 * The organiser's feed asks for moderation fields (prompt, participant) that a server
 * may not offer yet; the console falls back to {@link WATCH_LEADERBOARD} when it refuses.
 */
export const WATCH_MODERATION = `subscription WatchModeration($first: Int!) {
  leaderboard(first: $first) {
    ${LEADERBOARD_FIELDS.replace("latest { id name score imageUrl }", "")}
    latest { id name score imageUrl prompt participantId }
  }
}`;
