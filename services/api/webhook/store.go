package webhook

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotFound is returned for a subscription or dead letter that does not
// exist (or belongs to another tenant or client).
var ErrNotFound = errors.New("not found")

// Subscription is one client's webhook on one tenant's feed.
type Subscription struct {
	ID     string   `json:"id"`
	Tenant string   `json:"tenant"`
	Client string   `json:"client"`
	URL    string   `json:"url"`
	Types  []string `json:"types"` // empty: every event type
	// Secret signs the deliveries; shown once, in the answer to create.
	Secret string `json:"secret,omitempty"`
	// AfterSeq is the feed position delivered (or dead-lettered) up to.
	AfterSeq int64 `json:"after_seq"`
	// Sensitive: the client held people:sensitive when it subscribed, so
	// bodies keep the personal fields field minimisation leaves out.
	Sensitive bool      `json:"sensitive"`
	CreatedAt time.Time `json:"created_at"`
}

// Delivery is one attempt to deliver an event.
type Delivery struct {
	EventID    string    `json:"event_id"`
	Seq        int64     `json:"seq"`
	Attempt    int       `json:"attempt"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code"` // 0: no HTTP answer (see error)
	LatencyMS  float64   `json:"latency_ms"`
	Error      string    `json:"error"`
	Replay     bool      `json:"replay"`
}

// Dead-letter statuses.
const (
	// StatusDead: every attempt failed, or an earlier event of the same
	// person is dead (held back to keep the person's order; 0 attempts).
	StatusDead = "dead"
	// StatusReplaying: a replay was requested and has not settled.
	StatusReplaying = "replaying"
	// StatusDelivered: a replay delivered it.
	StatusDelivered = "delivered"
)

// DeadLetter is an event a subscription did not get.
type DeadLetter struct {
	EventID   string    `json:"event_id"`
	Seq       int64     `json:"seq"`
	PersonID  string    `json:"person_id"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	Status    string    `json:"status"`
	DeadAt    time.Time `json:"dead_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Store keeps subscriptions, the delivery log and dead letters in the api's
// database (tables of the api's feed migration, db.go).
type Store struct {
	db     *sql.DB
	rebind func(string) string
}

// NewStore returns a Store on db; rebind turns ? placeholders into the
// database's own.
func NewStore(db *sql.DB, rebind func(string) string) *Store {
	return &Store{db: db, rebind: rebind}
}

const subColumns = `id, tenant, client, url, types, secret, after_seq, sensitive, created_at`

func scanSub(row interface{ Scan(...any) error }) (*Subscription, error) {
	var s Subscription
	var types string
	var created int64
	var sensitive int
	err := row.Scan(&s.ID, &s.Tenant, &s.Client, &s.URL, &types, &s.Secret, &s.AfterSeq, &sensitive, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(types), &s.Types); err != nil {
		return nil, fmt.Errorf("subscription %s types: %w", s.ID, err)
	}
	s.CreatedAt, s.Sensitive = time.UnixMilli(created).UTC(), sensitive != 0
	return &s, nil
}

// Create stores a new subscription.
func (st *Store) Create(ctx context.Context, s Subscription) error {
	types, err := json.Marshal(s.Types)
	if err != nil {
		return err
	}
	_, err = st.db.ExecContext(ctx, st.rebind(`INSERT INTO webhook_subscriptions (`+subColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		s.ID, s.Tenant, s.Client, s.URL, string(types), s.Secret, s.AfterSeq, boolInt(s.Sensitive), s.CreatedAt.UnixMilli())
	return err
}

// List returns a client's live subscriptions on a tenant, oldest first.
func (st *Store) List(ctx context.Context, tenant, client string) ([]Subscription, error) {
	return st.query(ctx, `SELECT `+subColumns+` FROM webhook_subscriptions WHERE tenant = ? AND client = ? AND deleted_at IS NULL
		ORDER BY created_at, id`, tenant, client)
}

// Active returns every live subscription.
func (st *Store) Active(ctx context.Context) ([]Subscription, error) {
	return st.query(ctx, `SELECT `+subColumns+` FROM webhook_subscriptions WHERE deleted_at IS NULL ORDER BY created_at, id`)
}

func (st *Store) query(ctx context.Context, q string, args ...any) ([]Subscription, error) {
	rows, err := st.db.QueryContext(ctx, st.rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Subscription{}
	for rows.Next() {
		s, err := scanSub(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *s)
	}
	return out, rows.Err()
}

// Get returns a client's live subscription on a tenant.
func (st *Store) Get(ctx context.Context, tenant, client, id string) (*Subscription, error) {
	return scanSub(st.db.QueryRowContext(ctx, st.rebind(`SELECT `+subColumns+` FROM webhook_subscriptions
		WHERE id = ? AND tenant = ? AND client = ? AND deleted_at IS NULL`), id, tenant, client))
}

// live reports whether a subscription still exists.
func (st *Store) live(ctx context.Context, id string) (bool, error) {
	var n int
	err := st.db.QueryRowContext(ctx, st.rebind(`SELECT COUNT(*) FROM webhook_subscriptions WHERE id = ? AND deleted_at IS NULL`), id).Scan(&n)
	return n > 0, err
}

// Delete ends a subscription. Its rows stay in the database (for audit)
// but the api no longer serves them.
func (st *Store) Delete(ctx context.Context, tenant, client, id string, at time.Time) error {
	res, err := st.db.ExecContext(ctx, st.rebind(`UPDATE webhook_subscriptions SET deleted_at = ?
		WHERE id = ? AND tenant = ? AND client = ? AND deleted_at IS NULL`), at.UnixMilli(), id, tenant, client)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// advance records that a subscription is done with the feed up to seq
// (delivered, or dead-lettered by dead when it is not nil), in one
// transaction, so a restart neither loses the dead letter nor re-delivers
// past it.
func (st *Store) advance(ctx context.Context, subID string, seq int64, dead *DeadLetter) error {
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if dead != nil {
		if _, err := tx.ExecContext(ctx, st.rebind(`INSERT INTO webhook_dead_letters
			(subscription_id, event_id, feed_seq, person_id, attempts, last_error, status, dead_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subscription_id, event_id) DO NOTHING`),
			subID, dead.EventID, dead.Seq, dead.PersonID, dead.Attempts, dead.LastError, StatusDead,
			dead.DeadAt.UnixMilli(), dead.DeadAt.UnixMilli()); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, st.rebind(`UPDATE webhook_subscriptions SET after_seq = ? WHERE id = ? AND after_seq < ?`),
		seq, subID, seq); err != nil {
		return err
	}
	return tx.Commit()
}

// logDelivery appends one attempt to the delivery log.
func (st *Store) logDelivery(ctx context.Context, subID string, d Delivery) error {
	_, err := st.db.ExecContext(ctx, st.rebind(`INSERT INTO webhook_deliveries
		(subscription_id, event_id, feed_seq, attempt, at, status_code, latency_us, error, replay)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		subID, d.EventID, d.Seq, d.Attempt, d.At.UnixMicro(), d.StatusCode, int64(d.LatencyMS*1000), d.Error, boolInt(d.Replay))
	return err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// DeliveryCursor is a position in a delivery log: after the attempt
// logged at At (µs) for EventID, number Attempt.
type DeliveryCursor struct {
	At      int64
	EventID string
	Attempt int
}

// Deliveries returns up to limit rows of a subscription's delivery log,
// oldest first, after the position after (nil: from the start); eventID,
// when set, keeps one event's attempts.
func (st *Store) Deliveries(ctx context.Context, subID, eventID string, after *DeliveryCursor, limit int) ([]Delivery, []DeliveryCursor, error) {
	where, args := []string{"subscription_id = ?"}, []any{subID}
	if eventID != "" {
		where, args = append(where, "event_id = ?"), append(args, eventID)
	}
	if after != nil {
		where = append(where, "(at > ? OR (at = ? AND (event_id > ? OR (event_id = ? AND attempt > ?))))")
		args = append(args, after.At, after.At, after.EventID, after.EventID, after.Attempt)
	}
	rows, err := st.db.QueryContext(ctx, st.rebind(`SELECT event_id, feed_seq, attempt, at, status_code, latency_us, error, replay
		FROM webhook_deliveries WHERE `+strings.Join(where, " AND ")+` ORDER BY at, event_id, attempt LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	out, pos := []Delivery{}, []DeliveryCursor{}
	for rows.Next() {
		var d Delivery
		var at, latency int64
		var replay int
		if err := rows.Scan(&d.EventID, &d.Seq, &d.Attempt, &at, &d.StatusCode, &latency, &d.Error, &replay); err != nil {
			return nil, nil, err
		}
		d.At, d.LatencyMS, d.Replay = time.UnixMicro(at).UTC(), float64(latency)/1000, replay != 0
		out, pos = append(out, d), append(pos, DeliveryCursor{At: at, EventID: d.EventID, Attempt: d.Attempt})
	}
	return out, pos, rows.Err()
}

// DeadLetters returns a subscription's dead letters in feed order, after
// feed seq afterSeq; status, when set, keeps those in it.
func (st *Store) DeadLetters(ctx context.Context, subID, status string, afterSeq int64, limit int) ([]DeadLetter, error) {
	where, args := []string{"subscription_id = ?", "feed_seq > ?"}, []any{subID, afterSeq}
	if status != "" {
		where, args = append(where, "status = ?"), append(args, status)
	}
	rows, err := st.db.QueryContext(ctx, st.rebind(`SELECT event_id, feed_seq, person_id, attempts, last_error, status, dead_at, updated_at
		FROM webhook_dead_letters WHERE `+strings.Join(where, " AND ")+` ORDER BY feed_seq LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []DeadLetter{}
	for rows.Next() {
		var d DeadLetter
		var dead, updated int64
		if err := rows.Scan(&d.EventID, &d.Seq, &d.PersonID, &d.Attempts, &d.LastError, &d.Status, &dead, &updated); err != nil {
			return nil, err
		}
		d.DeadAt, d.UpdatedAt = time.UnixMilli(dead).UTC(), time.UnixMilli(updated).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

// Replay marks a subscription's dead letters for another delivery: the
// ones named, or every dead one when ids is empty. It returns how many.
func (st *Store) Replay(ctx context.Context, subID string, ids []string, at time.Time) (int, error) {
	q := `UPDATE webhook_dead_letters SET status = ?, updated_at = ? WHERE subscription_id = ? AND status = ?`
	args := []any{StatusReplaying, at.UnixMilli(), subID, StatusDead}
	if len(ids) > 0 {
		q += ` AND event_id IN (?` + strings.Repeat(", ?", len(ids)-1) + `)`
		for _, id := range ids {
			args = append(args, id)
		}
	}
	res, err := st.db.ExecContext(ctx, st.rebind(q), args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// personDead reports whether a person has an unsettled dead letter in the
// subscription: their later events must wait behind it.
func (st *Store) personDead(ctx context.Context, subID, personID string) (bool, error) {
	var n int
	err := st.db.QueryRowContext(ctx, st.rebind(`SELECT COUNT(*) FROM webhook_dead_letters
		WHERE subscription_id = ? AND person_id = ? AND status IN (?, ?)`), subID, personID, StatusDead, StatusReplaying).Scan(&n)
	return n > 0, err
}

// settle records the outcome of a replayed dead letter.
func (st *Store) settle(ctx context.Context, subID, eventID, status string, attempts int, lastErr string, at time.Time) error {
	_, err := st.db.ExecContext(ctx, st.rebind(`UPDATE webhook_dead_letters SET status = ?, attempts = attempts + ?, last_error = ?, updated_at = ?
		WHERE subscription_id = ? AND event_id = ?`), status, attempts, lastErr, at.UnixMilli(), subID, eventID)
	return err
}
