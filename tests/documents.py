"""The GraphQL documents the tests send, one constant per operation.

A test that needs a player to join, submit, watch or an organiser to act imports its
document from here, so the same operation is written once. Selections are the union of
what the tests read. Documents that are themselves under test (malformed ones, probes of
the request rules) stay in their test.
"""

from __future__ import annotations

# ------------------------------------------------------------------ players

JOIN = "mutation($n: String!) { join(nickname: $n) { token participant { id nickname } } }"
JOIN_EVENT = """mutation($n: String!, $e: ID) {
  join(nickname: $n, eventId: $e) { token participant { id } } }"""
JOIN_WITH_CONTACT = """mutation($n: String!, $c: String, $ok: Boolean!) {
  join(nickname: $n, contact: $c, contactConsent: $ok) { token participant { id claimCode } } }"""
SUBMIT = """mutation($p: String!, $c: String) { submitPrompt(prompt: $p, captcha: $c) {
  id prompt status score imageUrl deduplicated queuePosition etaSeconds copied hidden } }"""
WATCH = """subscription($id: ID!) { submission(id: $id) {
  id prompt status score imageUrl deduplicated } }"""
SUBMISSION = """query($id: ID!) { submission(id: $id) {
  id prompt createdAt status error score imageUrl copied hidden queuePosition etaSeconds } }"""
STATUS = "query($id: ID!) { submission(id: $id) { status error } }"
ME = "{ me { id nickname bestScore rank claimCode submissions(first: 5) { id status score } } }"
STANDING = "{ me { bestScore rank } }"
EVENT = "{ event { id title status frozen frozenAt holdForReview current } }"
EVENT_BY_ID = "query($e: ID) { event(eventId: $e) { id title status opensAt closesAt current } }"

# ------------------------------------------------------------------ boards

BOARD = """query($first: Int!) { leaderboard(first: $first) {
  submissions { id name score rank } latest { id name score } frozen } }"""
BOARD_OF = "query($e: ID) { leaderboard(eventId: $e) { submissions { name score } frozen } }"
BOARD_PROMPTS = """query { event { promptsRevealed }
  leaderboard(first: 10) { submissions { id name prompt rank } latest { id name } } }"""
BOARD_FEED = """subscription { leaderboard { submissions { id name score imageUrl rank }
  lastUpdatedAt participantCount submissionCount } }"""
PUBLIC_BOARD = """subscription { leaderboard(first: 20) {
  submissions { id name score rank } latest { id } frozen } }"""
PUBLIC_SCORES = "subscription { leaderboard(first: 20) { submissions { id name score } } }"
SCALE_FIELDS = "submissions { id name score rank } participantCount submissionCount"
BOARD_50 = f"subscription {{ leaderboard(first: 50) {{ {SCALE_FIELDS} }} }}"
BOARD_50_NOW = f"{{ leaderboard(first: 50) {{ {SCALE_FIELDS} }} }}"

# ---------------------------------------------------------------- organisers

LOGIN = """mutation($p: String!, $n: String!) {
  organiserLogin(password: $p, name: $n) { token name expiresAt } }"""
LIVE_BOARD = """query($first: Int!) { organiserLeaderboard(first: $first) {
  submissions { id name score rank } latest { id name score } frozen } }"""
LIVE_FEED = "subscription { organiserLeaderboard(first: 20) { submissions { name } frozen } }"
CREATE_EVENT = """mutation($t: String!, $img: String, $current: Boolean!, $hold: Boolean!) {
  createEvent(title: $t, targetImageBase64: $img, makeCurrent: $current,
              holdForReview: $hold) {
    id title targetImageUrl status current holdForReview } }"""
SCHEDULE = """mutation($id: ID!, $o: Float, $c: Float) {
  setEventSchedule(id: $id, opensAt: $o, closesAt: $c) { status opensAt closesAt } }"""
SET_CURRENT = "mutation($id: ID!) { setCurrentEvent(id: $id) { id } }"
CLOSE = "mutation($id: ID!) { closeEvent(id: $id) { id status } }"
JOIN_CAPTCHA = """mutation($id: ID!, $on: Boolean!) {
  updateEvent(id: $id, joinCaptcha: $on) { joinCaptcha } }"""
FREEZE = "mutation($at: Float) { freezeLeaderboard(at: $at) { frozen frozenAt } }"
UNFREEZE = "mutation { unfreezeLeaderboard { frozen frozenAt } }"
REVEAL = "mutation($top: Int!) { revealPrompts(top: $top) { promptsRevealed } }"
HIDE = 'mutation($id: ID!) { hideSubmission(id: $id, reason: "rude") { id hidden } }'
UNHIDE = "mutation($id: ID!) { unhideSubmission(id: $id) { id hidden } }"
APPROVE = "mutation($id: ID!) { approveSubmission(id: $id) { review } }"
BAN = 'mutation($id: ID!) { banParticipant(id: $id, reason: "macro") { banned } }'
UNBAN = "mutation($id: ID!) { unbanParticipant(id: $id) { banned } }"
STAFF = "mutation($id: ID!, $s: Boolean! = true) { setStaff(id: $id, staff: $s) { staff rank } }"
FEED = """{ latestSubmissions(first: 10) { id nickname copied
  copies { id nickname copied score } } }"""
AUDIT = "{ auditLog(first: 20) { action after } }"
RAFFLE = (
    "id seed count top status candidates { participantId nickname rank ticket } "
    "winners { participantId nickname } absent"
)
PREPARE_RAFFLE = f"""mutation($n: Int!, $top: Int, $seed: String) {{
  prepareRaffle(count: $n, top: $top, seed: $seed) {{ {RAFFLE} }} }}"""
DRAW_RAFFLE = f"mutation($id: ID!) {{ drawRaffle(id: $id) {{ {RAFFLE} }} }}"
REDRAW_RAFFLE = (
    f"mutation($id: ID!, $a: [ID!]!) {{ redrawRaffle(id: $id, absent: $a) {{ {RAFFLE} }} }}"
)
