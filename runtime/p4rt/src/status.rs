//! Write errors as P4Runtime reports them: when any update of a Write fails,
//! the gRPC status is UNKNOWN and its details hold a `google.rpc.Status`
//! whose `details` are one `p4.v1.Error` per update, in request order (OK for
//! the updates that succeeded).

use prost::Message;

use crate::proto::google::rpc;
use crate::proto::p4::v1 as p4;
use crate::Error;

/// The gRPC status of a Write with per-update outcomes `errors`.
pub fn write_status(message: &str, errors: &[p4::Error]) -> tonic::Status {
    let details = errors
        .iter()
        .map(|error| prost_types::Any {
            type_url: <p4::Error as prost::Name>::type_url(),
            value: error.encode_to_vec(),
        })
        .collect();
    let status = rpc::Status {
        code: rpc::Code::Unknown as i32,
        message: message.to_owned(),
        details,
    };
    tonic::Status::with_details(tonic::Code::Unknown, message, status.encode_to_vec().into())
}

/// The per-update errors of a failed Write, or an empty list when the status
/// carries none (e.g. a whole-request failure such as PERMISSION_DENIED).
///
/// # Errors
/// [`Error::Decode`] when the details are not a `google.rpc.Status` of
/// `p4.v1.Error`s.
pub fn write_errors(status: &tonic::Status) -> Result<Vec<p4::Error>, Error> {
    if status.details().is_empty() {
        return Ok(Vec::new());
    }
    let rich = rpc::Status::decode(status.details()).map_err(|e| Error::Decode {
        message: "google.rpc.Status".into(),
        detail: e.to_string(),
    })?;
    let expected = <p4::Error as prost::Name>::full_name();
    rich.details
        .iter()
        .map(|any| {
            let name = any.type_url.rsplit('/').next().unwrap_or_default();
            if name != expected {
                return Err(Error::Decode {
                    message: expected.clone(),
                    detail: format!("found an Any of type \"{}\"", any.type_url),
                });
            }
            p4::Error::decode(any.value.as_slice()).map_err(|e| Error::Decode {
                message: expected.clone(),
                detail: e.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_update_errors_round_trip_through_a_grpc_status() {
        let errors = vec![
            p4::Error {
                canonical_code: rpc::Code::Ok as i32,
                ..Default::default()
            },
            p4::Error {
                canonical_code: rpc::Code::NotFound as i32,
                message: "no such entry".into(),
                ..Default::default()
            },
        ];
        let status = write_status("1 of 2 updates failed", &errors);
        assert_eq!(status.code(), tonic::Code::Unknown);
        assert_eq!(write_errors(&status), Ok(errors));
        assert_eq!(
            write_errors(&tonic::Status::permission_denied("not primary")),
            Ok(Vec::new())
        );
    }

    #[test]
    fn foreign_details_are_a_typed_error() {
        let rich = rpc::Status {
            code: 2,
            message: String::new(),
            details: vec![prost_types::Any {
                type_url: "type.googleapis.com/other.Thing".into(),
                value: vec![],
            }],
        };
        let status =
            tonic::Status::with_details(tonic::Code::Unknown, "", rich.encode_to_vec().into());
        assert!(matches!(write_errors(&status), Err(Error::Decode { .. })));
        let garbage =
            tonic::Status::with_details(tonic::Code::Unknown, "", vec![0xff, 0xff].into());
        assert!(matches!(write_errors(&garbage), Err(Error::Decode { .. })));
    }
}
