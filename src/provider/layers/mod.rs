//! Layers around a provider call, each a wrapper of the one inside it, like
//! [`super::resilience::Resilient`]: replay/record, response cache, budget,
//! call log, resilience (retries, rate limits, circuit breaker).
