//! RSVP wire format.
