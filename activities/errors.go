package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/referrizer"
	"github.com/hlrz/hlrz/internal/store"
)

// Application error types the activities return. Workflows name the non-retryable ones in
// their retry policies, so a rejected request or a revoked token fails fast into a dead
// letter instead of burning retries.
const (
	ErrTypeValidation   = "Validation"
	ErrTypeUnauthorized = "Unauthorized"
	ErrTypeReconnect    = "ReconnectRequired"
	ErrTypeConfig       = "Config"
	ErrTypeNotFound     = "NotFound"
	ErrTypeConflict     = "Conflict"
	ErrTypeRateLimited  = "RateLimited"
	ErrTypeServer       = "ServerError"
)

// NonRetryableErrorTypes are the types retrying cannot fix.
var NonRetryableErrorTypes = []string{ErrTypeValidation, ErrTypeUnauthorized, ErrTypeReconnect, ErrTypeConfig, ErrTypeConflict}

// retryable is implemented by both API clients' errors.
type retryable interface {
	Retryable() bool
	RetryAfter() time.Duration
}

// asTemporalError turns an error into a Temporal application error of a known type, with
// NextRetryDelay when the server said how long to wait (HTTP 429).
func asTemporalError(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return err // already classified deeper down
	}
	msg := op + ": " + err.Error()
	typ := errType(err)
	var r retryable
	if errors.As(err, &r) && r.RetryAfter() > 0 {
		return temporal.NewApplicationErrorWithOptions(msg, ErrTypeRateLimited, temporal.ApplicationErrorOptions{
			NextRetryDelay: r.RetryAfter(), Cause: err,
		})
	}
	for _, t := range NonRetryableErrorTypes {
		if t == typ {
			return temporal.NewNonRetryableApplicationError(msg, typ, err)
		}
	}
	return temporal.NewApplicationErrorWithOptions(msg, typ, temporal.ApplicationErrorOptions{Cause: err})
}

func errType(err error) string {
	switch {
	case errors.Is(err, ghl.ErrReconnectRequired):
		return ErrTypeReconnect
	case errors.Is(err, ghl.ErrUnauthorized), errors.Is(err, ghl.ErrForbidden), errors.Is(err, referrizer.ErrUnauthorized):
		return ErrTypeUnauthorized
	case errors.Is(err, ghl.ErrValidation), errors.Is(err, referrizer.ErrValidation), errors.Is(err, referrizer.ErrDuplicate):
		return ErrTypeValidation
	case errors.Is(err, ghl.ErrNotFound), errors.Is(err, referrizer.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return ErrTypeNotFound
	case errors.Is(err, store.ErrConflict):
		return ErrTypeConflict
	case errors.Is(err, ghl.ErrRateLimited), errors.Is(err, referrizer.ErrRateLimited):
		return ErrTypeRateLimited
	case errors.Is(err, errConfig):
		return ErrTypeConfig
	}
	return ErrTypeServer
}

// errConfig marks problems only an operator can fix (bad mapping, missing credentials).
var errConfig = errors.New("configuration")

func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errConfig, fmt.Sprintf(format, args...))
}
