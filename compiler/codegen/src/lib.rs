//! The pipeline IR and its emitters.
