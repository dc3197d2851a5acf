package dynamo

import "sync"

// Together runs independent calls at once, so that together they cost one
// round trip, and returns the first error in argument order (so the answer
// does not depend on which call finished first).
func Together(calls ...func() error) error {
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		if i == 0 {
			continue
		}
		wg.Go(func() { errs[i] = c() })
	}
	if len(calls) > 0 {
		errs[0] = calls[0]()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
