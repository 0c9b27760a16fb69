package validate

import "github.com/esrflow/esrflow/platform/statestore"

// StoreOf is the processor's state store (tests drive Process with
// transactions on it, as the runner does).
func StoreOf(p *Processor) *statestore.Store { return p.store }
