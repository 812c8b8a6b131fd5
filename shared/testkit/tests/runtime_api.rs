//! The Lambda Runtime API emulator, proven against a tiny `lambda_runtime` function
//! (`src/bin/hello_lambda.rs`) and a raw HTTP client; then the real release `users`
//! bootstrap under the template's configuration and IAM grants, on moto.
//!
//! The moto server of this test binary enforces IAM (see `lambda_runtime::iam`), so
//! every moto call here is signed by an IAM user's keys.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use textbridge_aws::{aws_sdk_dynamodb, aws_sdk_secretsmanager, aws_sdk_sqs};
use textbridge_testkit::lambda_runtime::events::{
    HttpApiRequest, HttpApiResponse, SqsMessage, scheduled_event, sqs_event,
};
use textbridge_testkit::lambda_runtime::template::{Template, project_template};
use textbridge_testkit::lambda_runtime::{
    AccessKeys, Deployment, Function, FunctionSpec, JWT_AUDIENCE, JWT_ISSUER, Outcome, RuntimeApi, bootstrap, iam,
};
use textbridge_testkit::moto;

const HELLO: &str = env!("CARGO_BIN_EXE_hello_lambda");
const TIMEOUT: Duration = Duration::from_secs(10);

fn hello() -> FunctionSpec {
    FunctionSpec::new(HELLO).name("hello").memory_mb(128)
}

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis()
}

#[tokio::test]
async fn a_response_goes_back_with_the_request_context() {
    let mut f = hello().start().expect("start hello");
    let init = f.wait_ready(TIMEOUT).await.unwrap_or_else(|| panic!("hello did not start:\n{}", f.log_text()));
    assert_eq!(f.init_duration(), Some(init));

    let before = now_ms();
    let answer = f.invoke(&json!({ "say": "hi" }), TIMEOUT).await.response();
    assert_eq!(answer["said"], "hi");
    assert_eq!(answer["function_arn"], f.spec().arn());
    assert!(answer["trace_id"].as_str().is_some_and(|t| t.starts_with("Root=1-")), "{answer}");
    let deadline = u128::from(answer["deadline_ms"].as_u64().expect("deadline"));
    assert!(deadline > before && deadline <= now_ms() + TIMEOUT.as_millis(), "deadline is the function timeout");

    let request_id = answer["request_id"].as_str().expect("request id").to_owned();
    let logged = f
        .wait_for_log(TIMEOUT, |l| l.text.contains(&request_id))
        .await
        .unwrap_or_else(|| panic!("no log line with {request_id}:\n{}", f.log_text()));
    assert_eq!(logged.process, 1);
    assert!(f.json_logs().iter().any(|l| l["message"] == "invoked"));

    let again = f.invoke(&json!({ "say": "again" }), TIMEOUT).await.response();
    assert_eq!(again["said"], "again");
    assert_ne!(again["request_id"], answer["request_id"]);
    assert_eq!(f.cold_starts(), 1, "a warm process serves the next invocation");
}

#[tokio::test]
async fn a_function_error_carries_its_type_and_message() {
    let mut f = hello().start().expect("start hello");
    match f.invoke(&json!({ "fail": "no greeting today" }), TIMEOUT).await {
        Outcome::Error(e) => {
            assert_eq!(e.error_type, "HelloError");
            assert_eq!(e.message, "no greeting today");
            assert!(e.header.is_some(), "lambda_runtime sends Lambda-Runtime-Function-Error-Type");
        }
        other => panic!("expected an error, got {other:?}\n{}", f.log_text()),
    }
    assert_eq!(f.invoke(&json!({ "say": "still here" }), TIMEOUT).await.response()["said"], "still here");
    assert_eq!(f.cold_starts(), 1, "a reported error does not end the process");
}

#[tokio::test]
async fn an_init_error_is_recorded_and_answers_every_invocation() {
    let mut f = hello()
        .env("HELLO_FAIL_INIT", "1")
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
        .start()
        .expect("start hello");
    let status = f.wait_exit(TIMEOUT).await.unwrap_or_else(|| panic!("hello did not exit:\n{}", f.log_text()));
    assert!(!status.success());
    let error = f.init_error().unwrap_or_else(|| panic!("no init error:\n{}", f.log_text()));
    assert_eq!(error.header.as_deref(), Some("Runtime.InitError"));
    assert!(error.message.contains("HELLO_FAIL_INIT"), "{error:?}");
    assert_eq!(f.init_duration(), None, "it never asked for an event");

    match f.invoke(&json!({ "say": "hi" }), TIMEOUT).await {
        Outcome::Error(e) => assert_eq!(e.header.as_deref(), Some("Runtime.InitError"), "{e:?}"),
        other => panic!("expected the init error, got {other:?}"),
    }
    assert_eq!(f.cold_starts(), 2, "the invocation tried a new process");
}

#[tokio::test]
async fn a_timeout_kills_the_process_and_the_next_invocation_is_a_cold_start() {
    let mut f = hello().start().expect("start hello");
    let outcome = f.invoke(&json!({ "sleep_ms": 30_000 }), Duration::from_millis(500)).await;
    assert_eq!(outcome, Outcome::TimedOut);
    assert!(!f.is_running(), "the timed-out process was killed");
    assert_eq!(f.cold_starts(), 1);

    assert_eq!(f.invoke(&json!({ "say": "fresh" }), TIMEOUT).await.response()["said"], "fresh");
    assert_eq!(f.cold_starts(), 2);
    assert!(f.init_duration().is_some());
}

#[tokio::test]
async fn an_exit_mid_invocation_is_a_runtime_exit_error() {
    let mut f = hello().start().expect("start hello");
    match f.invoke(&json!({ "exit": 3 }), TIMEOUT).await {
        Outcome::Error(e) => assert_eq!(e.error_type, "Runtime.ExitError", "{e:?}"),
        other => panic!("expected an exit error, got {other:?}"),
    }
    assert_eq!(f.invoke(&json!({ "say": "back" }), TIMEOUT).await.response()["said"], "back");
    assert_eq!(f.cold_starts(), 2);
}

/// The wire contract, with a plain HTTP client in the runtime's place.
#[tokio::test]
async fn the_wire_contract_matches_the_runtime_api() {
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:raw";
    let api = RuntimeApi::start(arn).expect("start the API");
    let base = format!("http://{}/2018-06-01/runtime", api.host_port());
    let http = textbridge_http::builder().build().expect("client");

    let mut first = api.submit(json!({ "n": 1 }).to_string().into(), TIMEOUT);
    let next = http.get(format!("{base}/invocation/next")).send().await.expect("next");
    assert_eq!(next.status(), 200);
    let header = |name: &str| next.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(header("Lambda-Runtime-Aws-Request-Id").as_deref(), Some(first.request_id.as_str()));
    assert_eq!(header("Lambda-Runtime-Invoked-Function-Arn").as_deref(), Some(arn));
    assert!(header("Lambda-Runtime-Trace-Id").is_some());
    let deadline: u128 = header("Lambda-Runtime-Deadline-Ms").expect("deadline").parse().expect("millis");
    assert!(deadline > now_ms() && deadline <= now_ms() + TIMEOUT.as_millis());
    assert_eq!(next.json::<Value>().await.expect("event"), json!({ "n": 1 }));
    assert!(first.started.try_recv().is_ok(), "the invocation started when /next handed it out");

    let unknown = http.post(format!("{base}/invocation/nope/response")).body("{}").send().await.expect("post");
    assert_eq!(unknown.status(), 400);
    assert_eq!(unknown.json::<Value>().await.expect("json")["errorType"], "InvalidRequestID");

    let url = format!("{base}/invocation/{}/response", first.request_id);
    let ok = http.post(&url).body(r#"{"answer":42}"#).send().await.expect("post");
    assert_eq!(ok.status(), 202);
    assert_eq!(ok.json::<Value>().await.expect("json"), json!({ "status": "OK" }));
    let twice = http.post(&url).body("{}").send().await.expect("post");
    assert_eq!(twice.status(), 403, "an invocation is answered once");
    match first.reply.try_recv() {
        Ok(textbridge_testkit::lambda_runtime::Reply::Response(body)) => assert_eq!(&body[..], br#"{"answer":42}"#),
        other => panic!("expected the response, got {other:?}"),
    }

    // An error whose body cannot be read: the header names its type.
    let mut second = api.submit("{}".into(), TIMEOUT);
    let next = http.get(format!("{base}/invocation/next")).send().await.expect("next");
    assert_eq!(next.status(), 200);
    let failed = http
        .post(format!("{base}/invocation/{}/error", second.request_id))
        .header("Lambda-Runtime-Function-Error-Type", "Runtime.Crashed")
        .body("not json")
        .send()
        .await
        .expect("post");
    assert_eq!(failed.status(), 202);
    match second.reply.try_recv() {
        Ok(textbridge_testkit::lambda_runtime::Reply::Error(e)) => {
            assert_eq!(e.error_type, "Runtime.Crashed");
            assert_eq!(e.header.as_deref(), Some("Runtime.Crashed"));
        }
        other => panic!("expected the error, got {other:?}"),
    }

    let too_big = vec![b'x'; textbridge_testkit::lambda_runtime::MAX_PAYLOAD_BYTES + 1];
    let mut third = api.submit("{}".into(), TIMEOUT);
    http.get(format!("{base}/invocation/next")).send().await.expect("next");
    let large = http.post(format!("{base}/invocation/{}/response", third.request_id)).body(too_big).send().await;
    assert_eq!(large.expect("post").status(), 413);
    assert!(third.reply.try_recv().is_err(), "no answer was recorded");

    let late = http.post(format!("{base}/init/error")).body("{}").send().await.expect("post");
    assert_eq!(late.status(), 403, "init has ended once the runtime asked for an event");
    assert_eq!(api.init_error(), None);
}

#[test]
fn event_builders_make_the_shapes_the_functions_read() {
    let event = HttpApiRequest::new("post", "/users/import")
        .json_body(&json!({ "a": 1 }))
        .claims(&json!({ "sub": "u-1", "tenant": "acme" }))
        .request_id("req-1")
        .source_ip("198.51.100.1")
        .build();
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["requestContext"]["http"]["method"], "POST");
    assert_eq!(event["requestContext"]["http"]["sourceIp"], "198.51.100.1");
    assert_eq!(event["requestContext"]["requestId"], "req-1");
    assert_eq!(event["requestContext"]["authorizer"]["jwt"]["claims"]["tenant"], "acme");
    assert_eq!(event["headers"]["content-type"], "application/json");
    assert_eq!(serde_json::from_str::<Value>(event["body"].as_str().expect("body")).expect("json"), json!({ "a": 1 }));

    let arn = "arn:aws:sqs:us-east-1:123456789012:textbridge-dev-intake";
    let message = SqsMessage::new("hello");
    let event = sqs_event(arn, std::slice::from_ref(&message));
    assert_eq!(event["Records"][0]["messageId"], message.message_id.as_str());
    assert_eq!(event["Records"][0]["eventSourceARN"], arn);
    assert_eq!(event["Records"][0]["receiptHandle"], message.receipt_handle.as_str());
    assert_eq!(event["Records"][0]["body"], "hello");

    let event = scheduled_event("arn:aws:events:us-east-1:123456789012:rule/every-20-minutes");
    assert_eq!(event["detail-type"], "Scheduled Event");
    assert_eq!(event["source"], "aws.events");
}

// ---------------------------------------------------------------------------------
// The release `users` bootstrap, configured and authorised as the template deploys it
// ---------------------------------------------------------------------------------

/// The users function's configuration resolved against a made-up deployment (no
/// moto involved): what the template grants and sets.
#[test]
fn the_template_gives_users_its_grants_and_environment() {
    let template = Template::load(&project_template()).expect("template");
    let deployment = Deployment::made_up("dev");
    let resolver = deployment
        .resolver(&template)
        .with_ref("PublicBaseUrl", "https://textbridge.test")
        .with_ref("JwtIssuer", "https://issuer.example.com/");
    let users = template.function("UsersFunction", &resolver).expect("UsersFunction");
    assert_eq!(users.function_name, "textbridge-dev-users");
    assert_eq!((users.memory_mb, users.timeout), (256, Duration::from_secs(10)));
    let env: std::collections::HashMap<_, _> = users.environment.iter().cloned().collect();
    assert_eq!(env["TABLE_NAME"], "textbridge-dev");
    assert_eq!(env["INTAKE_QUEUE_URL"], deployment.intake_queue_url);
    assert_eq!(env["SECRETS_PREFIX"], "textbridge/dev/");
    assert_eq!(env["DEFAULT_COUNTRY"], "US");
    assert_eq!(env["PUBLIC_BASE_URL"], "https://textbridge.test");
    assert!(!env.contains_key("IMPORTS_BUCKET"), "uploads are the imports function's");

    let statements = users.policy["Statement"].as_array().expect("statements");
    let sids: Vec<&str> = statements.iter().filter_map(|s| s["Sid"].as_str()).collect();
    assert_eq!(sids, ["UserItems", "RemoveDeletedUsersSecrets"], "users holds its items and a deleted user's secrets");
    let items = &statements[0];
    assert_eq!(
        items["Action"],
        json!([
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
            "dynamodb:Query"
        ])
    );
    assert_eq!(items["Resource"], deployment.table_arn.as_str());
    assert_eq!(
        statements[1]["Action"],
        json!(["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "secretsmanager:DeleteSecret"]),
        "it removes a deleted user's credentials and never creates or changes a secret"
    );

    let imports = template.function("ImportsFunction", &resolver).expect("ImportsFunction");
    assert_eq!(imports.function_name, "textbridge-dev-imports");
    let env: std::collections::HashMap<_, _> = imports.environment.iter().cloned().collect();
    assert_eq!(env["IMPORTS_BUCKET"], deployment.imports_bucket);
    assert_eq!(env["INTAKE_QUEUE_URL"], deployment.intake_queue_url);
    let statements = imports.policy["Statement"].as_array().expect("statements");
    let sids: Vec<&str> = statements.iter().filter_map(|s| s["Sid"].as_str()).collect();
    assert_eq!(
        sids,
        ["ImportItems", "QueueImportRuns", "ImportUploads", "MissingUploadsAreNotFound", "DeadLetterDepthForHealth"],
        "imports holds its items, import runs and uploads, and the queues' health"
    );
    assert_eq!(
        statements[0]["Action"],
        json!(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]),
        "it reads items and puts them (conditionally), never updates, deletes or writes transactions"
    );
    let listing = &statements[3];
    assert_eq!(listing["Action"], json!(["s3:ListBucket"]), "so that S3 answers a missing upload 404, not 403");
    assert_eq!(listing["Resource"], format!("arn:aws:s3:::{}", deployment.imports_bucket));
    let queue = &statements[1];
    assert_eq!(queue["Action"], json!(["sqs:SendMessage", "sqs:GetQueueAttributes"]), "it queues import runs only");
    assert_eq!(queue["Resource"], deployment.intake_queue_arn.as_str());
    let uploads = &statements[2];
    assert_eq!(uploads["Action"], json!(["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]));
    assert_eq!(uploads["Resource"], format!("arn:aws:s3:::{}/imports/*", deployment.imports_bucket));

    let credentials = template.function("CredentialsFunction", &resolver).expect("CredentialsFunction");
    let secrets = credentials.policy["Statement"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["Sid"] == "ManageTenantSecrets"))
        .expect("ManageTenantSecrets");
    assert_eq!(secrets["Resource"], "arn:aws:secretsmanager:us-east-1:123456789012:secret:textbridge/dev/*");
}

/// The users bootstrap running with the keys of an IAM user that holds exactly the
/// template's grants, against this stage's table and queues on moto.
struct Users {
    function: Function,
    keys: AccessKeys,
    deployment: Deployment,
}

async fn users() -> Option<Users> {
    let bootstrap = bootstrap("users")?;
    let admin = iam::enforce_iam().await;
    let admin_sdk = iam::sdk_config(&admin).await;
    let stage = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let deployment = Deployment::create(&admin_sdk, &stage).await.expect("resources on moto");
    let template = Template::load(&project_template()).expect("template");
    let resolver = deployment.test_resolver(&template);
    let config = template.function("UsersFunction", &resolver).expect("UsersFunction");
    let user = format!("{}-{stage}", config.logical_id);
    let keys = iam::create_user(&admin_sdk, &user, &iam::moto_enforceable(&config.policy)).await.expect("IAM user");
    let function = FunctionSpec::new(bootstrap)
        .name(&config.function_name)
        .memory_mb(config.memory_mb)
        .credentials(keys.clone())
        .endpoint_url(moto::endpoint())
        .envs(config.environment.clone())
        .start()
        .expect("start users");
    Some(Users { function, keys, deployment })
}

async fn get(users: &mut Users, event: &Value) -> HttpApiResponse {
    let timeout = Duration::from_secs(10); // the template's Timeout
    match users.function.invoke(event, timeout).await {
        Outcome::Response(response) => HttpApiResponse::from_value(&response)
            .unwrap_or_else(|| panic!("not an HTTP API response: {response}\n{}", users.function.log_text())),
        other => panic!("users answered {other:?}\n{}", users.function.log_text()),
    }
}

#[tokio::test]
async fn users_me_answers_the_callers_identity() {
    let Some(mut users) = users().await else { return };
    let claims = json!({
        "iss": JWT_ISSUER, "aud": JWT_AUDIENCE,
        "sub": "u-42", "tenant": "acme", "username": "jane@acme.test",
        "role": "customer_admin", "group": "Recruiters",
    });
    let event =
        HttpApiRequest::get("/users/me").route_key("ANY /users/{proxy+}").claims(&claims).request_id("req-me").build();
    let response = get(&mut users, &event).await;
    assert_eq!(response.status, 200, "{response:?}\n{}", users.function.log_text());
    let body = response.json();
    assert_eq!(body["tenant"], "acme");
    assert_eq!(body["user_id"], "u-42");
    assert_eq!(body["username"], "jane@acme.test");
    assert_eq!(body["role"], "customer_admin");
    assert_eq!(body["permission_group"], "Recruiters");
    assert_eq!(response.header("x-request-id"), Some("req-me"));
    let init = users.function.init_duration().expect("init was measured");
    eprintln!("users: init {init:?}");

    let anonymous = HttpApiRequest::get("/users/me").build();
    assert_eq!(get(&mut users, &anonymous).await.status, 401, "no authorizer claims, no identity");
    assert_eq!(users.function.cold_starts(), 1);
}

#[tokio::test]
async fn users_health_answers_under_the_templates_grants() {
    let Some(mut users) = users().await else { return };
    let event = HttpApiRequest::get("/users/health").route_key("GET /users/health").build();
    let response = get(&mut users, &event).await;
    // The users function has its store and the secret store (to remove a deleted
    // user's credentials); its health checks both.
    assert_eq!(response.status, 200, "{}\n{}", response.body, users.function.log_text());
    assert_eq!(response.json()["checks"], json!({ "store": "ok", "secrets": "ok" }));
}

/// moto enforces the template's grants for the keys the function runs with: what
/// the template grants works, anything else is AccessDenied.
#[tokio::test]
async fn the_functions_keys_hold_only_the_templates_grants() {
    let Some(users) = users().await else { return };
    let sdk = iam::sdk_config(&users.keys).await;
    let d = &users.deployment;

    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let pk = aws_sdk_dynamodb::types::AttributeValue::S("T#_probe".into());
    let got = dynamodb.get_item().table_name(&d.table_name).key("PK", pk.clone()).key("SK", pk).send().await;
    assert!(got.is_ok(), "UserItems grants GetItem: {got:?}");

    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let sent = sqs.send_message().queue_url(&d.intake_queue_url).message_body("{}").send().await;
    let denied = format!("{sent:?}");
    assert!(sent.is_err() && denied.contains("AccessDenied"), "import runs are queued by imports: {denied}");
    let taken = sqs.receive_message().queue_url(&d.intake_queue_url).send().await;
    let denied = format!("{taken:?}");
    assert!(taken.is_err() && denied.contains("AccessDenied"), "users may not consume the queue: {denied}");
    let dead = sqs.send_message().queue_url(&d.intake_dlq_url).message_body("{}").send().await;
    let denied = format!("{dead:?}");
    assert!(dead.is_err() && denied.contains("AccessDenied"), "users may not touch the dead letters: {denied}");

    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = format!("textbridge/{}/acme/textus/user/u-1", d.stage);
    let created = secrets.create_secret().name(&name).secret_string("x").send().await;
    let denied = format!("{created:?}");
    assert!(created.is_err() && denied.contains("AccessDenied"), "users may not create secrets: {denied}");
}
