//! The archiver as the local worker loop drives it (on the embedded queue): failures
//! stay per message, an ATS write whose answer was lost is found and not repeated,
//! status callbacks never add a text.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use serde_json::json;
use textbridge::worker;
use textbridge_app::{
    App, Config,
    archive::Archiver,
    ports::{Ats, AtsError, AtsMessage, Clock, DeadLetter, PortResult, Queue, QueueDepth, Received, RecordRef},
    worker::MessageHandler,
};
use textbridge_domain::{
    DeliveryStatus, Direction, Error, MessageEvent, ProviderKind, RecordKind, TenantId, WebhookEvent,
};
use textbridge_testkit::seed;
use tokio::sync::watch;

/// A temporary embedded backend where tenant `acme` has employee `e1` on
/// +12065550100 (keep the first value alive for the test's length).
async fn acme_with_e1() -> (textbridge_embedded::Embedded, textbridge_app::Backend, TenantId) {
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    let backend = embedded.backend();
    let tenant = TenantId::parse("acme").expect("tenant");
    seed::record_phone(&backend, &tenant, "+12065550100", RecordKind::Employee, "e1").await;
    (embedded, backend, tenant)
}

/// A temporary embedded backend whose intake queue holds `bodies` (keep the first
/// value alive for the test's length).
async fn queue_holding(bodies: &[&str]) -> (textbridge_embedded::Embedded, Arc<dyn Queue>) {
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    let queue = embedded.backend().queue;
    let bodies: Vec<String> = bodies.iter().map(|b| (*b).to_owned()).collect();
    queue.send_batch(&bodies).await.expect("send");
    (embedded, queue)
}

/// Fails every body that contains "bad".
struct FailsOnBad;

#[async_trait]
impl MessageHandler for FailsOnBad {
    async fn handle(&self, body: &str) -> Result<(), Error> {
        if body.contains("bad") { Err(Error::malformed("bad body")) } else { Ok(()) }
    }
}

#[tokio::test]
async fn the_archiver_fails_what_it_cannot_read_instead_of_dropping_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded = textbridge_embedded::open(dir.path()).await.expect("embedded");
    let handler = Archiver::new(App::on(embedded.backend(), Config::default()).shared());
    let unknown = json!({"tenant": "acme", "kind": "from-the-future", "payload": {}}).to_string();
    for body in ["not json", &unknown, r#"{"tenant":"T#x","kind":"m","payload":1}"#] {
        assert!(handler.handle(body).await.is_err(), "{body}");
    }
}

#[tokio::test]
async fn worker_deletes_successes_and_dead_letters_failures() {
    let (_embedded, queue) = queue_holding(&["good 1", "bad 1", "good 2"]).await;

    let (stop, stopped) = watch::channel(false);
    let run = tokio::spawn(worker::run(queue.clone(), Arc::new(FailsOnBad), Duration::from_millis(300), stopped));
    let mut dead = Vec::new();
    for _ in 0..600 {
        dead = queue.dead_letters(10).await.expect("dead letters");
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(true).expect("stop");
    run.await.expect("worker");
    assert_eq!(dead.iter().map(|d| d.body.as_str()).collect::<Vec<_>>(), ["bad 1"]);
    let depth = queue.depth().await.expect("depth");
    assert_eq!((depth.visible, depth.in_flight, depth.dead), (0, 0, 1), "successes deleted");
}

/// Asks the worker to stop as soon as it handles a message.
struct StopsTheWorker(watch::Sender<bool>);

#[async_trait]
impl MessageHandler for StopsTheWorker {
    async fn handle(&self, _body: &str) -> Result<(), Error> {
        self.0.send_replace(true);
        Ok(())
    }
}

/// A queue whose deletes take a while.
struct SlowDeletes(Arc<dyn Queue>);

#[async_trait]
impl Queue for SlowDeletes {
    async fn send(&self, body: &str) -> PortResult<String> {
        self.0.send(body).await
    }
    async fn send_batch(&self, bodies: &[String]) -> PortResult<Vec<String>> {
        self.0.send_batch(bodies).await
    }
    async fn receive(&self, max: u32, visibility: Duration) -> PortResult<Vec<Received>> {
        self.0.receive(max, visibility).await
    }
    async fn delete(&self, receipt: &str) -> PortResult<()> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.0.delete(receipt).await
    }
    async fn hide(&self, receipt: &str, visibility: Duration) -> PortResult<()> {
        self.0.hide(receipt, visibility).await
    }
    async fn dead_letters(&self, max: u32) -> PortResult<Vec<DeadLetter>> {
        self.0.dead_letters(max).await
    }
    async fn replay(&self, ids: Option<&[String]>) -> PortResult<u32> {
        self.0.replay(ids).await
    }
    async fn depth(&self) -> PortResult<QueueDepth> {
        self.0.depth().await
    }
}

#[tokio::test]
async fn a_stopping_worker_deletes_what_it_has_handled_before_it_returns() {
    let (_embedded, queue) = queue_holding(&["one", "two", "three"]).await;
    let (stop, stopped) = watch::channel(false);
    let (slow, handler) = (Arc::new(SlowDeletes(queue.clone())), Arc::new(StopsTheWorker(stop)));
    tokio::time::timeout(Duration::from_secs(60), worker::run(slow, handler, Duration::from_secs(60), stopped))
        .await
        .expect("the worker stops");
    let depth = queue.depth().await.expect("depth");
    assert_eq!((depth.visible, depth.in_flight, depth.dead), (0, 0, 0), "the handled batch deleted");
}

/// Takes 1.2 s over each message, and counts the messages it is given.
#[derive(Default)]
struct Slow(std::sync::atomic::AtomicUsize);

#[async_trait]
impl MessageHandler for Slow {
    async fn handle(&self, _body: &str) -> Result<(), Error> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        Ok(())
    }
}

#[tokio::test]
async fn a_message_handled_for_longer_than_its_visibility_timeout_is_not_received_again_meanwhile() {
    let (_embedded, queue) = queue_holding(&["one", "two"]).await;
    let (stop, stopped) = watch::channel(false);
    let handler = Arc::new(Slow::default());
    // Four visibility timeouts per message, with another poller free to receive it.
    let run = tokio::spawn(worker::run(queue.clone(), handler.clone(), Duration::from_millis(300), stopped));
    for _ in 0..600 {
        let depth = queue.depth().await.expect("depth");
        if depth.visible + depth.in_flight == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).expect("stop");
    run.await.expect("worker");
    assert_eq!(handler.0.load(std::sync::atomic::Ordering::SeqCst), 2, "each message handled once");
    assert_eq!(queue.depth().await.expect("depth"), Default::default());
}

/// An ATS that records every write, and whose first answer is lost (the process
/// "dies" after the ATS call and before recording it).
#[derive(Default)]
struct LosesFirstAnswer {
    writes: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl Ats for LosesFirstAnswer {
    async fn write_message(&self, _: &TenantId, _: &RecordRef, message: &AtsMessage) -> Result<String, AtsError> {
        let mut writes = self.writes.lock().expect("writes");
        writes.push(message.provider_message_id.clone());
        if writes.len() == 1 {
            return Err(AtsError::Unavailable("timed out; the message may have been written".into()));
        }
        Ok(format!("ats-{}", writes.len()))
    }

    async fn find_message(
        &self,
        _: &TenantId,
        _: &RecordRef,
        _: ProviderKind,
        provider_message_id: &str,
    ) -> Result<Option<String>, AtsError> {
        let writes = self.writes.lock().expect("writes");
        Ok(writes.iter().position(|w| w == provider_message_id).map(|i| format!("ats-{}", i + 1)))
    }
}

/// A clock that moves only when told to.
struct ManualClock(std::sync::Mutex<time::OffsetDateTime>);

impl ManualClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().expect("clock") += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> time::OffsetDateTime {
        *self.0.lock().expect("clock")
    }
}

#[tokio::test]
async fn an_ats_write_whose_answer_was_lost_is_found_not_repeated() {
    let (_embedded, backend, tenant) = acme_with_e1().await;
    let ats = Arc::new(LosesFirstAnswer::default());
    // The lease is counted on the app's clock in whole seconds: a moving clock could
    // cross a second's end between two deliveries and end the lease early.
    let clock = Arc::new(ManualClock(std::sync::Mutex::new(time::OffsetDateTime::now_utc())));
    let config = Config { visibility_timeout: Duration::from_secs(1), ..Config::default() };
    let app = App::on(backend, config).with_ats(Some(ats.clone())).with_clock(clock.clone());
    let handler = Archiver::new(app.shared());
    let text = seed::inbound_text(
        ProviderKind::Zipwhip,
        "1327295480212647936",
        "+12065550100",
        "2026-11-23T17:01:17Z",
        "hello",
    );
    let body = seed::queued(&tenant, WebhookEvent::Message(text));

    assert!(handler.handle(&body).await.is_err(), "the lost answer fails the first delivery");
    assert!(handler.handle(&body).await.is_err(), "a redelivery within the lease waits for the claim");
    clock.advance(Duration::from_millis(2100));
    handler.handle(&body).await.expect("after the lease: found in the ATS, marked done");
    handler.handle(&body).await.expect("done stays done");
    assert_eq!(ats.writes.lock().expect("writes").len(), 1, "written once");
}

#[tokio::test]
async fn status_callbacks_update_the_archived_text_and_never_add_one() {
    let (_embedded, backend, tenant) = acme_with_e1().await;
    let handler = Archiver::new(App::on(backend.clone(), Config::default()).shared());
    let sent = MessageEvent {
        direction: Direction::Outbound,
        status: DeliveryStatus::Sent,
        ..seed::inbound_text(ProviderKind::Twilio, "SM0001", "+12065550100", "2026-11-23T17:00:00Z", "Interview at 9?")
    };
    let delivered = WebhookEvent::Status {
        provider: ProviderKind::Twilio,
        provider_message_id: "SM0001".into(),
        status: DeliveryStatus::Delivered,
    };
    // A later report of the same text with another time and status: same entry.
    let reported_again = MessageEvent {
        occurred_at: "2026-11-23T17:00:09Z".parse().expect("time"),
        status: DeliveryStatus::Delivered,
        ..sent.clone()
    };
    for event in [WebhookEvent::Message(sent), delivered, WebhookEvent::Message(reported_again)] {
        handler.handle(&seed::queued(&tenant, event)).await.expect("handled");
    }
    let conversation = textbridge_app::keys::conversation(&tenant, RecordKind::Employee, "e1");
    let entries = backend.store.query_all(&conversation).await.expect("entries");
    assert_eq!(entries.len(), 1, "one text");
    assert_eq!(entries[0].str("status"), Some("delivered"));
    assert_eq!(entries[0].str("occurred_at"), Some("2026-11-23T17:00:00.000000Z"), "the first report's time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_first_reports_and_upserts_on_the_embedded_backend() {
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    textbridge_testkit::races::two_first_reports_make_one_entry(embedded.backend(), "race-a").await;
    textbridge_testkit::races::identical_upserts_requeue_each_text_once(embedded.backend(), "race-b").await;
    textbridge_testkit::races::racing_opt_outs_make_one_change(embedded.backend(), "race-c").await;
    textbridge_testkit::races::notes_racing_a_purge_leave_nothing(embedded.backend(), "race-notes").await;
    textbridge_testkit::races::texts_racing_their_numbers_first_record_reach_it(embedded.backend(), "race-first").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_racing_cached_reads_on_the_embedded_backend() {
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    let nowhere = textbridge_providers::Url::parse("http://127.0.0.1:9/").expect("url");
    let providers = textbridge_providers::registry(&textbridge_providers::Endpoints::all_at(&nowhere));
    textbridge_testkit::races::changes_reach_cached_reads_at_once(embedded.backend(), providers, "race-cache").await;
}

/// An ATS the tenant has not connected until `connected` is set.
#[derive(Default)]
struct ConnectsLater {
    connected: std::sync::atomic::AtomicBool,
    writes: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl Ats for ConnectsLater {
    async fn write_message(&self, _: &TenantId, _: &RecordRef, message: &AtsMessage) -> Result<String, AtsError> {
        if !self.connected.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(AtsError::NotConnected("no TempWorks API token is saved for this tenant".into()));
        }
        let mut writes = self.writes.lock().expect("writes");
        writes.push(message.provider_message_id.clone());
        Ok(format!("ats-{}", writes.len()))
    }

    async fn find_message(
        &self,
        _: &TenantId,
        _: &RecordRef,
        _: ProviderKind,
        _: &str,
    ) -> Result<Option<String>, AtsError> {
        Ok(None)
    }
}

#[tokio::test]
async fn without_an_ats_connection_texts_are_archived_and_their_writes_wait() {
    let (_embedded, backend, tenant) = acme_with_e1().await;
    let ats = Arc::new(ConnectsLater::default());
    let handler = Archiver::new(App::on(backend.clone(), Config::default()).with_ats(Some(ats.clone())).shared());
    let text = seed::inbound_text(ProviderKind::TextUs, "m-wait", "+12065550100", "2026-11-23T17:01:17Z", "hello");
    let body = seed::queued(&tenant, WebhookEvent::Message(text));

    handler.handle(&body).await.expect("archived here, not failed into the dead letters");
    let conversation = textbridge_app::keys::conversation(&tenant, RecordKind::Employee, "e1");
    let entries = backend.store.query_all(&conversation).await.expect("entries");
    assert_eq!(entries.len(), 1, "archived in Textbridge");
    let waiting = backend.store.query_all(&textbridge_app::keys::ats_pending(&tenant)).await.expect("pending");
    assert_eq!(waiting.len(), 1, "the ATS write waits");
    handler.handle(&body).await.expect("still waiting, still not a failure");

    ats.connected.store(true, std::sync::atomic::Ordering::SeqCst);
    let app = App::on(backend.clone(), Config::default()).shared();
    assert_eq!(textbridge_app::archive::resume_ats_writes(&app, &tenant).await.expect("resume"), 1);
    let queued = backend.queue.receive(10, Duration::from_secs(30)).await.expect("receive");
    assert_eq!(queued.len(), 1, "the waiting text is queued again");
    handler.handle(&queued[0].body).await.expect("written once connected");
    handler.handle(&body).await.expect("done stays done");
    assert_eq!(ats.writes.lock().expect("writes").len(), 1, "written once");
    let waiting = backend.store.query_all(&textbridge_app::keys::ats_pending(&tenant)).await.expect("pending");
    assert!(waiting.is_empty(), "off the waiting list");
}

#[tokio::test]
async fn a_conversation_mixing_providers_reads_in_true_time_order() {
    let (_embedded, backend, tenant) = acme_with_e1().await;
    let app = App::on(backend.clone(), Config::default()).shared();
    let handler = Archiver::new(app.clone());
    // Within one minute, archived out of order, each time in its provider's own form
    // once parsed: whole seconds, milliseconds, another offset.
    let texts = [
        (ProviderKind::Zipwhip, "z1", "2026-11-26T10:00:05Z"),
        (ProviderKind::TextUs, "t1", "2026-11-26T10:00:05.120Z"),
        (ProviderKind::Twilio, "SM1", "2026-11-26T05:00:04.900-05:00"),
        (ProviderKind::TextUs, "t2", "2026-11-26T10:00:59.999Z"),
        (ProviderKind::Zipwhip, "z2", "2026-11-26T10:00:00Z"),
    ];
    for (provider, id, at) in texts {
        let text = seed::inbound_text(provider, id, "+12065550100", at, id);
        handler.handle(&seed::queued(&tenant, WebhookEvent::Message(text))).await.expect("archived");
    }
    let caller = textbridge_domain::Identity {
        tenant: tenant.clone(),
        user_id: "admin-1".parse().expect("id"),
        username: "admin@acme.test".parse().expect("username"),
        role: textbridge_domain::Role::CustomerAdmin,
        permission_group: "Admins".parse().expect("group"),
    };
    let page = textbridge_app::records::conversation(&app, &caller, RecordKind::Employee, "e1", None, 50)
        .await
        .expect("conversation");
    let order: Vec<&str> = page.messages.iter().map(|m| m.body()).collect();
    assert_eq!(order, ["t2", "t1", "z1", "SM1", "z2"], "newest first, across providers");
}

#[tokio::test]
async fn a_status_that_arrives_before_its_text_is_kept_for_it() {
    let (_embedded, backend, tenant) = acme_with_e1().await;
    let handler = Archiver::new(App::on(backend.clone(), Config::default()).shared());
    let delivered = WebhookEvent::Status {
        provider: ProviderKind::Twilio,
        provider_message_id: "SM-early".into(),
        status: DeliveryStatus::Delivered,
    };
    handler.handle(&seed::queued(&tenant, delivered)).await.expect("kept, no text yet");
    let conversation = textbridge_app::keys::conversation(&tenant, RecordKind::Employee, "e1");
    assert!(backend.store.query_all(&conversation).await.expect("entries").is_empty(), "a status adds no text");
    let sent = MessageEvent {
        direction: Direction::Outbound,
        status: DeliveryStatus::Sent,
        ..seed::inbound_text(ProviderKind::Twilio, "SM-early", "+12065550100", "2026-11-23T17:00:00Z", "On my way")
    };
    handler.handle(&seed::queued(&tenant, WebhookEvent::Message(sent))).await.expect("archived");
    let entries = backend.store.query_all(&conversation).await.expect("entries");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].str("status"), Some("delivered"), "the earlier status is kept for the text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn permission_matrix_and_racing_creates_on_the_embedded_backend() {
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    textbridge_testkit::access::permission_matrix(embedded.backend(), "matrix").await;
    textbridge_testkit::access::racing_creates(embedded.backend(), "race-groups").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_sends_under_one_key_send_once_on_the_embedded_backend() {
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    let tenant = TenantId::parse("race-send").expect("tenant");
    let stand_in = textbridge_testkit::sending::twilio_tenant(&embedded.backend(), &tenant).await;
    let base = textbridge_providers::Url::parse(&stand_in.uri()).expect("url");
    let providers = textbridge_providers::registry(&textbridge_providers::Endpoints::all_at(&base));
    textbridge_testkit::sending::racing_sends_with_one_key(embedded.backend(), providers, "race-send", &stand_in).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mass_text_reports_each_recipient_once_on_the_embedded_backend() {
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    let tenant = TenantId::parse("mass").expect("tenant");
    let stand_in = textbridge_testkit::sending::twilio_tenant(&embedded.backend(), &tenant).await;
    let base = textbridge_providers::Url::parse(&stand_in.uri()).expect("url");
    let providers = textbridge_providers::registry(&textbridge_providers::Endpoints::all_at(&base));
    textbridge_testkit::sending::mass_text_reports_each_recipient_once(
        embedded.backend(),
        providers,
        "mass",
        &stand_in,
    )
    .await;
}
