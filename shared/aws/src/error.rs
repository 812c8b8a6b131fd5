//! Mapping of AWS SDK errors to [`PortError`].
//!
//! All three SDKs share the same `SdkError` and `HttpResponse` types, so one mapping
//! serves DynamoDB, SQS and Secrets Manager.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use textbridge_app::ports::PortError;

/// How much of the service's own error text a mapped error may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    /// The operation, the error code and the service's message.
    Full,
    /// Only the operation and the error code: for calls whose messages could, in
    /// principle, echo a request value (secrets).
    CodeOnly,
}

/// Error codes meaning "try again later".
const RETRYABLE: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "TransactionConflictException",
    "TransactionInProgressException",
    "InternalServerError",
    "InternalServerErrorException",
    "InternalFailure",
    "InternalError",
    "InternalServiceError",
    "InternalServiceErrorException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    "KmsThrottled",
];

/// Error codes meaning "the request itself is wrong".
const INVALID: &[&str] = &[
    "ValidationException",
    "SerializationException",
    "InvalidParameterException",
    "InvalidParameterValue",
    "InvalidParameterValueException",
    "InvalidParameterCombination",
    "InvalidRequestException",
    "MissingParameter",
    "MissingRequiredParameterException",
    "ReceiptHandleIsInvalid",
    "InvalidAddress",
    "InvalidMessageContents",
    "InvalidAttributeName",
    "InvalidAttributeValue",
    "BatchRequestTooLong",
    "TooManyEntriesInBatchRequest",
    "EmptyBatchRequest",
    "BatchEntryIdsNotDistinct",
    "InvalidBatchEntryId",
    "InvalidIdFormat",
    "MessageTooLong",
    "UnsupportedOperation",
];

/// Error codes meaning "the addressed resource does not exist".
const NOT_FOUND: &[&str] = &["ResourceNotFoundException", "QueueDoesNotExist", "NonExistentQueue"];

/// Maps a failed SDK call of operation `op` (e.g. `"PutItem"`).
pub(crate) fn map_sdk_error<E>(op: &str, err: &SdkError<E, HttpResponse>, detail: Detail) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::TimeoutError(_) => PortError::Retryable(format!("{op}: timed out")),
        SdkError::DispatchFailure(failure) => {
            let kind = if failure.is_timeout() {
                "timed out"
            } else if failure.is_io() {
                "connection failed"
            } else if failure.is_user() {
                "bad client configuration"
            } else {
                "could not be sent"
            };
            let text = match detail {
                Detail::Full => format!("{op}: {kind}: {}", DisplayErrorContext(err)),
                Detail::CodeOnly => format!("{op}: {kind}"),
            };
            if failure.is_user() { PortError::Invalid(text) } else { PortError::Retryable(text) }
        }
        SdkError::ResponseError(_) => PortError::Retryable(format!("{op}: unreadable response")),
        SdkError::ConstructionFailure(_) => {
            let text = match detail {
                Detail::Full => format!("{op}: request could not be built: {}", DisplayErrorContext(err)),
                Detail::CodeOnly => format!("{op}: request could not be built"),
            };
            PortError::Invalid(text)
        }
        SdkError::ServiceError(service) => {
            let e = service.err();
            let status = err.raw_response().map(|r| r.status().as_u16());
            classify(op, e.code(), e.message(), status, detail)
        }
        _ => PortError::Unexpected(format!("{op}: failed")),
    }
}

/// Maps a service error by its code (and HTTP status, when the code is unknown).
pub(crate) fn classify(
    op: &str,
    code: Option<&str>,
    message: Option<&str>,
    status: Option<u16>,
    detail: Detail,
) -> PortError {
    let raw_code = code.unwrap_or("UnknownError");
    // SQS reports its legacy query-protocol codes, e.g. `AWS.SimpleQueueService.NonExistentQueue`.
    let code = raw_code.strip_prefix("AWS.SimpleQueueService.").unwrap_or(raw_code);
    let text = match (detail, message) {
        (Detail::Full, Some(m)) if !m.is_empty() => format!("{op}: {code}: {m}"),
        _ => format!("{op}: {code}"),
    };
    match code {
        "ConditionalCheckFailedException" | "ResourceExistsException" => PortError::ConditionFailed,
        "TransactionCanceledException" => {
            // Without the typed reasons, the message lists them: "... reasons [None, ConditionalCheckFailed]".
            let listed = message.unwrap_or_default();
            let reasons = listed
                .rsplit_once('[')
                .map(|(_, r)| r.trim_end_matches(']'))
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .collect::<Vec<_>>();
            cancelled(op, reasons.into_iter())
        }
        c if NOT_FOUND.contains(&c) => PortError::NotFound(text),
        c if RETRYABLE.contains(&c) => PortError::Retryable(text),
        c if INVALID.contains(&c) => PortError::Invalid(text),
        _ => match status {
            Some(429) | Some(500..=599) => PortError::Retryable(text),
            _ => PortError::Unexpected(text),
        },
    }
}

/// Maps the cancellation reason codes of a cancelled DynamoDB transaction.
pub(crate) fn cancelled<'a>(op: &str, reasons: impl Iterator<Item = &'a str>) -> PortError {
    let reasons: Vec<&str> = reasons.filter(|r| !r.is_empty() && *r != "None").collect();
    let text = format!("{op}: transaction cancelled ({})", reasons.join(", "));
    if reasons.contains(&"ConditionalCheckFailed") {
        PortError::ConditionFailed
    } else if reasons
        .iter()
        .any(|r| matches!(*r, "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"))
    {
        PortError::Retryable(text)
    } else if reasons.iter().any(|r| matches!(*r, "ValidationError" | "ItemCollectionSizeLimitExceeded")) {
        PortError::Invalid(text)
    } else {
        PortError::Unexpected(text)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_sdk_dynamodb::types::error::{ConditionalCheckFailedException, TransactionCanceledException};

    use super::*;

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(status.try_into().expect("status"), "".into())
    }

    fn service(code: &str, status: u16) -> SdkError<PutItemError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message("the service said so").build();
        SdkError::service_error(PutItemError::generic(meta), response(status))
    }

    #[test]
    fn conditional_check_is_condition_failed() {
        let typed = PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("The conditional request failed")
                .meta(ErrorMetadata::builder().code("ConditionalCheckFailedException").build())
                .build(),
        );
        let err = SdkError::service_error(typed, response(400));
        assert_eq!(map_sdk_error("PutItem", &err, Detail::Full), PortError::ConditionFailed);
        let generic = service("ConditionalCheckFailedException", 400);
        assert_eq!(map_sdk_error("PutItem", &generic, Detail::Full), PortError::ConditionFailed);
    }

    #[test]
    fn codes_map_to_kinds() {
        let kind = |code: &str, status: u16| map_sdk_error("Op", &service(code, status), Detail::Full);
        assert!(matches!(kind("ResourceNotFoundException", 400), PortError::NotFound(_)));
        assert!(matches!(kind("ResourceExistsException", 400), PortError::ConditionFailed));
        for code in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
            "InternalServerError",
            "TransactionConflictException",
        ] {
            assert!(matches!(kind(code, 400), PortError::Retryable(_)), "{code}");
        }
        assert!(matches!(kind("ValidationException", 400), PortError::Invalid(_)));
        assert!(matches!(kind("AccessDeniedException", 400), PortError::Unexpected(_)));
        assert!(matches!(kind("SomethingNew", 503), PortError::Retryable(_)));
        assert!(matches!(kind("SomethingNew", 429), PortError::Retryable(_)));
        assert!(matches!(kind("SomethingNew", 400), PortError::Unexpected(_)));
        assert!(matches!(kind("AWS.SimpleQueueService.NonExistentQueue", 400), PortError::NotFound(_)));
        assert!(matches!(kind("QueueDoesNotExist", 400), PortError::NotFound(_)));
    }

    #[test]
    fn messages_carry_the_operation_and_code() {
        let full = map_sdk_error("PutItem", &service("ValidationException", 400), Detail::Full);
        assert_eq!(full, PortError::Invalid("PutItem: ValidationException: the service said so".into()));
        let short = map_sdk_error("GetSecretValue", &service("InternalServiceError", 500), Detail::CodeOnly);
        assert_eq!(short, PortError::Retryable("GetSecretValue: InternalServiceError".into()));
    }

    #[test]
    fn transport_failures_are_retryable() {
        let timeout: SdkError<PutItemError, HttpResponse> = SdkError::timeout_error("slow");
        assert!(matches!(map_sdk_error("PutItem", &timeout, Detail::Full), PortError::Retryable(_)));
        let io: SdkError<PutItemError, HttpResponse> = SdkError::dispatch_failure(ConnectorError::io("reset".into()));
        assert!(matches!(map_sdk_error("PutItem", &io, Detail::Full), PortError::Retryable(_)));
        let conn_timeout: SdkError<PutItemError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::timeout("connect".into()));
        assert!(matches!(map_sdk_error("PutItem", &conn_timeout, Detail::CodeOnly), PortError::Retryable(_)));
        let response: SdkError<PutItemError, HttpResponse> = SdkError::response_error("truncated", response(200));
        assert!(matches!(map_sdk_error("PutItem", &response, Detail::Full), PortError::Retryable(_)));
        let built: SdkError<PutItemError, HttpResponse> = SdkError::construction_failure("missing field");
        assert!(matches!(map_sdk_error("PutItem", &built, Detail::Full), PortError::Invalid(_)));
    }

    #[test]
    fn cancellation_reasons_decide() {
        let reasons = |codes: &[&str]| cancelled("TransactWriteItems", codes.iter().copied());
        assert_eq!(reasons(&["None", "ConditionalCheckFailed"]), PortError::ConditionFailed);
        assert!(matches!(reasons(&["TransactionConflict", "None"]), PortError::Retryable(_)));
        assert!(matches!(reasons(&["ThrottlingError"]), PortError::Retryable(_)));
        assert!(matches!(reasons(&["ValidationError"]), PortError::Invalid(_)));
        assert!(matches!(reasons(&[]), PortError::Unexpected(_)));

        let typed = TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .cancellation_reasons(CancellationReason::builder().code("None").build())
                .cancellation_reasons(CancellationReason::builder().code("ConditionalCheckFailed").build())
                .build(),
        );
        let TransactWriteItemsError::TransactionCanceledException(e) = &typed else { unreachable!() };
        assert_eq!(
            cancelled("TransactWriteItems", e.cancellation_reasons().iter().filter_map(|r| r.code())),
            PortError::ConditionFailed
        );
    }

    #[test]
    fn cancellation_without_typed_reasons_reads_the_message() {
        let msg = "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed]";
        let got =
            classify("TransactWriteItems", Some("TransactionCanceledException"), Some(msg), Some(400), Detail::Full);
        assert_eq!(got, PortError::ConditionFailed);
        let msg = "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]";
        let got =
            classify("TransactWriteItems", Some("TransactionCanceledException"), Some(msg), Some(400), Detail::Full);
        assert!(matches!(got, PortError::Retryable(_)));
    }
}
