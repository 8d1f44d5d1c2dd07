//! Consumer instrumentation for [`StreamConsumer`] and [`BaseConsumer`]:
//!
//! - `process {topic}` CONSUMER spans around the application's handler
//!   ([`TracedConsumer::process`]), parented or linked per [`ProcessParent`](crate::ProcessParent);
//! - `poll {topic}` CLIENT spans per batch with one link per message
//!   ([`TracedConsumer::poll_batch`], [`TracedConsumer::recv_batch`]);
//! - `commit {topic}` CLIENT spans ([`TracedConsumer::commit`] and friends);
//! - a message stream that pairs each message with its creation context
//!   ([`TracedConsumer::stream`], in [`crate::stream`]).
//!
//! `messaging.client.consumed.messages` is counted once per message: where the application
//! receives it through this wrapper (stream, `recv`, batch), or else in `process`.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};
use std::time::{Duration, Instant};

use opentelemetry::trace::{Link, SpanKind, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use rdkafka::ClientConfig;
use rdkafka::config::FromClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::util::AsyncRuntime;
use tracewire_core::context::{InContext, current_context};
use tracewire_core::instrument::{ActiveSpan, Parent, SpanStart};
use tracewire_core::metrics::duration_seconds;
use tracewire_core::semconv::error::{ERROR_TYPE, error_type_of};
use tracewire_core::semconv::messaging::{
    self, KAFKA_OPERATION_COMMIT, KAFKA_OPERATION_POLL, KAFKA_OPERATION_PROCESS,
    OPERATION_TYPE_PROCESS, OPERATION_TYPE_RECEIVE, OPERATION_TYPE_SETTLE, batch_message_count,
    partition_id,
};

use crate::headers::{self, NativeHeaders};
use crate::instrumentation::{
    Client, ClientInfo, KafkaInstrumentation, Operation, ProcessParent, destination, error_type,
};
use crate::stream::TracedStream;

const PROCESS: Operation = Operation {
    kind: OPERATION_TYPE_PROCESS,
    name: KAFKA_OPERATION_PROCESS,
};
const POLL: Operation = Operation {
    kind: OPERATION_TYPE_RECEIVE,
    name: KAFKA_OPERATION_POLL,
};
const COMMIT: Operation = Operation {
    kind: OPERATION_TYPE_SETTLE,
    name: KAFKA_OPERATION_COMMIT,
};

/// A received message with the creation context its headers carried (an empty context when
/// they carried none). Dereferences to the message.
///
/// ```
/// use opentelemetry::trace::TraceContextExt;
/// use rdkafka::Message;
/// # use std::time::Duration;
/// # use opentelemetry_sdk::trace::SdkTracerProvider;
/// # use rdkafka::consumer::{Consumer, StreamConsumer};
/// # use rdkafka::mocking::MockCluster;
/// # use rdkafka::producer::FutureRecord;
/// # use rdkafka::{ClientConfig, Offset, TopicPartitionList};
/// # use tracewire_core::propagation::{Propagator, TraceContextPropagator};
/// # use tracewire_kafka::{KafkaInstrumentation, TracedConsumer, TracedProducer};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // librdkafka's mock cluster: a real Kafka-protocol broker on loopback.
/// let cluster = MockCluster::new(1)?;
/// cluster.create_topic("orders", 1, 1)?;
/// let mut config = ClientConfig::new();
/// config.set("bootstrap.servers", cluster.bootstrap_servers());
/// let kafka = KafkaInstrumentation::builder()
///     .tracer_provider(&SdkTracerProvider::default())
///     .propagator(Propagator::new(TraceContextPropagator::new()))
///     .build();
/// let producer: TracedProducer = TracedProducer::from_config(&config, &kafka)?;
/// producer
///     .send(FutureRecord::<str, str>::to("orders").payload("o-1"), Duration::from_secs(5))
///     .await
///     .map_err(|(error, _)| error)?;
///
/// config.set("group.id", "billing");
/// let consumer: TracedConsumer<StreamConsumer> = TracedConsumer::from_config(&config, &kafka)?;
/// let mut partitions = TopicPartitionList::new();
/// partitions.add_partition_offset("orders", 0, Offset::Beginning)?;
/// consumer.inner().assign(&partitions)?;
///
/// let received = consumer.recv().await?;
/// assert_eq!(received.payload(), Some(&b"o-1"[..])); // the message, through `Deref`
/// // The `send orders` span's context, read from the headers.
/// assert!(received.context().span().span_context().is_remote());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Received<M> {
    message: M,
    context: Context,
}

impl<M> Received<M> {
    /// The message.
    pub fn message(&self) -> &M {
        &self.message
    }

    /// The producer's context from the headers; `context().has_active_span()` is false when the
    /// message carried no valid one.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The message, without the context.
    pub fn into_message(self) -> M {
        self.message
    }
}

impl<M> Deref for Received<M> {
    type Target = M;

    fn deref(&self) -> &M {
        &self.message
    }
}

/// A Kafka consumer with traced processing, batches and commits.
///
/// ```no_run
/// use futures_util::StreamExt;
/// use rdkafka::ClientConfig;
/// use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
/// use tracewire_kafka::{KafkaInstrumentation, TracedConsumer};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let mut config = ClientConfig::new();
/// config.set("bootstrap.servers", "localhost:9092").set("group.id", "billing");
/// let consumer: TracedConsumer<StreamConsumer> =
///     TracedConsumer::from_config(&config, &KafkaInstrumentation::default())?;
/// consumer.inner().subscribe(&["orders"])?;
/// let mut messages = consumer.stream();
/// while let Some(received) = messages.next().await {
///     let received = received?;
///     consumer
///         .process_received(&received, async { Ok::<_, std::io::Error>(()) })
///         .await?;
///     consumer.commit_message(&received, CommitMode::Async)?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TracedConsumer<T> {
    consumer: T,
    client: Arc<Client>,
}

impl<T: FromClientConfig> TracedConsumer<T> {
    /// Creates the consumer from `config`, reading the [`ClientInfo`] from it too.
    pub fn from_config(config: &ClientConfig, kafka: &KafkaInstrumentation) -> KafkaResult<Self> {
        Ok(Self::new(
            T::from_config(config)?,
            kafka,
            ClientInfo::from_config(config),
        ))
    }
}

impl<T> TracedConsumer<T> {
    /// Wraps `consumer`; `info` is what telemetry reports about it.
    pub fn new(consumer: T, kafka: &KafkaInstrumentation, info: ClientInfo) -> Self {
        Self {
            consumer,
            client: Arc::new(Client::new(kafka, info)),
        }
    }

    /// The wrapped consumer (subscribe, assign, seek, ...).
    pub fn inner(&self) -> &T {
        &self.consumer
    }

    /// The wrapped consumer.
    pub fn into_inner(self) -> T {
        self.consumer
    }

    /// Extracts `message`'s creation context, without counting or tracing anything.
    pub fn extract<M: Message<Headers: NativeHeaders>>(&self, message: &M) -> Context {
        headers::extract(self.client.kafka.propagator(), message.headers())
    }

    /// Runs `handler` inside a `process {topic}` CONSUMER span for a message received directly
    /// from rdkafka (this counts it in `messaging.client.consumed.messages`).
    ///
    /// The span is current on every poll of the handler. A handler error sets status Error and
    /// `error.type` to the error's type name ([`error_type_of`]); the span and
    /// `messaging.process.duration` end when the handler returns.
    pub fn process<M, F, R, E>(&self, message: &M, handler: F) -> Processing<F>
    where
        M: Message<Headers: NativeHeaders>,
        F: Future<Output = Result<R, E>>,
    {
        let creation = self.extract(message);
        self.start_process(message, creation, true, handler)
    }

    /// [`process`](Self::process) for a message received through this wrapper (already counted
    /// and extracted).
    pub fn process_received<M, F, R, E>(&self, received: &Received<M>, handler: F) -> Processing<F>
    where
        M: Message,
        F: Future<Output = Result<R, E>>,
    {
        self.start_process(&received.message, received.context.clone(), false, handler)
    }

    /// [`process`](Self::process) for a blocking handler (a `BaseConsumer` loop).
    pub fn process_blocking<M, R, E>(
        &self,
        message: &M,
        handler: impl FnOnce() -> Result<R, E>,
    ) -> Result<R, E>
    where
        M: Message<Headers: NativeHeaders>,
    {
        let creation = self.extract(message);
        let processing = self.process_span(message, creation, true);
        let result = processing.span.in_scope(handler);
        processing.finish(result.as_ref().err().map(|_| error_type_of::<E>()));
        result
    }

    fn start_process<M: Message, F: Future>(
        &self,
        message: &M,
        creation: Context,
        count: bool,
        handler: F,
    ) -> Processing<F> {
        let state = self.process_span(message, creation, count);
        Processing {
            inner: state.span.instrument(handler),
            state: Some(state),
        }
    }

    fn process_span<M: Message>(
        &self,
        message: &M,
        creation: Context,
        count: bool,
    ) -> ProcessState {
        let client = &self.client;
        let topic = message.topic();
        let mut attributes = client.span_attributes(PROCESS, 6);
        attributes.push(destination(topic));
        attributes.push(partition_id(message.partition()));
        client.push_offset(message.offset(), &mut attributes);
        client.push_message(message.key(), message.payload(), &mut attributes);
        let mut metric_attributes = client.metric_attributes(PROCESS, false, 3);
        metric_attributes.push(destination(topic));
        metric_attributes.push(partition_id(message.partition()));
        if count {
            client
                .kafka
                .metrics()
                .consumed_messages
                .add(1, &metric_attributes);
        }
        let start = SpanStart::new(
            SpanKind::Consumer,
            messaging::span_name(KAFKA_OPERATION_PROCESS, Some(topic)).into_owned(),
        )
        .attributes(attributes);
        let start = parent_and_links(start, client.kafka.process_parent(), creation);
        ProcessState {
            span: client.kafka.instrumentation().start(start),
            client: Arc::clone(client),
            metric_attributes,
        }
    }
}

/// Applies [`ProcessParent`]: which of the creation and ambient contexts is the parent, and
/// which becomes a link.
fn parent_and_links(start: SpanStart, mode: ProcessParent, creation: Context) -> SpanStart {
    if !creation.span().span_context().is_valid() {
        return start.parent(Parent::Current);
    }
    let ambient = current_context().span().span_context().clone();
    let parent_on_message = match mode {
        ProcessParent::Auto => !ambient.is_valid(),
        ProcessParent::Message => true,
        ProcessParent::Ambient => false,
    };
    if parent_on_message {
        let start = if ambient.is_valid() {
            start.link(Link::with_context(ambient))
        } else {
            start
        };
        start.parent(Parent::Context(creation))
    } else {
        let link = Link::with_context(creation.span().span_context().clone());
        start.parent(Parent::Current).link(link)
    }
}

/// A `process` span until its handler returns.
#[derive(Debug)]
struct ProcessState {
    span: ActiveSpan,
    client: Arc<Client>,
    metric_attributes: Vec<KeyValue>,
}

impl ProcessState {
    fn finish(self, error_type: Option<&'static str>) {
        let Self {
            span,
            client,
            mut metric_attributes,
        } = self;
        if let Some(error_type) = error_type {
            span.set_error(error_type);
            metric_attributes.push(KeyValue::new(ERROR_TYPE, error_type));
        }
        let elapsed = span.elapsed();
        span.end();
        client
            .kafka
            .metrics()
            .process_duration
            .record(duration_seconds(elapsed), &metric_attributes);
    }
}

pin_project_lite::pin_project! {
    /// The future of [`TracedConsumer::process`]: the handler, run with the `process` span
    /// current, and the span's end when it completes.
    ///
    /// ```
    /// use opentelemetry::trace::TraceContextExt;
    /// use tracewire_core::context::current_context;
    /// # use std::time::Duration;
    /// # use opentelemetry_sdk::trace::SdkTracerProvider;
    /// # use rdkafka::consumer::{Consumer, StreamConsumer};
    /// # use rdkafka::mocking::MockCluster;
    /// # use rdkafka::producer::FutureRecord;
    /// # use rdkafka::{ClientConfig, Offset, TopicPartitionList};
    /// # use tracewire_core::propagation::{Propagator, TraceContextPropagator};
    /// # use tracewire_kafka::{KafkaInstrumentation, TracedConsumer, TracedProducer};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let cluster = MockCluster::new(1)?;
    /// # cluster.create_topic("orders", 1, 1)?;
    /// # let mut config = ClientConfig::new();
    /// # config.set("bootstrap.servers", cluster.bootstrap_servers());
    /// # let kafka = KafkaInstrumentation::builder()
    /// #     .tracer_provider(&SdkTracerProvider::default())
    /// #     .propagator(Propagator::new(TraceContextPropagator::new()))
    /// #     .build();
    /// # let producer: TracedProducer = TracedProducer::from_config(&config, &kafka)?;
    /// # producer
    /// #     .send(FutureRecord::<str, str>::to("orders").payload("o-1"), Duration::from_secs(5))
    /// #     .await
    /// #     .map_err(|(error, _)| error)?;
    /// #
    /// # config.set("group.id", "billing");
    /// let consumer: TracedConsumer<StreamConsumer> = TracedConsumer::from_config(&config, &kafka)?;
    /// # let mut partitions = TopicPartitionList::new();
    /// # partitions.add_partition_offset("orders", 0, Offset::Beginning)?;
    /// # consumer.inner().assign(&partitions)?;
    /// let received = consumer.recv().await?;
    /// let producer_trace = received.context().span().span_context().trace_id();
    /// let processing = consumer.process_received(&received, async move {
    ///     // The `process orders` span is current here, in the producer's trace.
    ///     let span = current_context().span().span_context().clone();
    ///     assert_eq!(span.trace_id(), producer_trace);
    ///     Ok::<_, std::io::Error>(())
    /// });
    /// processing.await?;
    /// # Ok(()) }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Processing<F> {
        #[pin]
        inner: InContext<F>,
        state: Option<ProcessState>,
    }
}

impl<F> std::fmt::Debug for Processing<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processing")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<F, R, E> Future for Processing<F>
where
    F: Future<Output = Result<R, E>>,
{
    type Output = Result<R, E>;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(task));
        if let Some(state) = this.state.take() {
            state.finish(result.as_ref().err().map(|_| error_type_of::<E>()));
        }
        Poll::Ready(result)
    }
}

impl<T> TracedConsumer<T> {
    /// Pairs a received message with its creation context and counts it as consumed.
    pub(crate) fn receive<M: Message<Headers: NativeHeaders>>(&self, message: M) -> Received<M> {
        let mut attributes = self.client.metric_attributes(PROCESS, false, 2);
        attributes.push(destination(message.topic()));
        attributes.push(partition_id(message.partition()));
        self.client
            .kafka
            .metrics()
            .consumed_messages
            .add(1, &attributes);
        let context = self.extract(&message);
        Received { message, context }
    }

    /// Ends a batch receive: one `poll {topic}` span backdated to `started` with a link per
    /// message that carried a context. An empty poll (nothing and no error) records nothing.
    fn record_poll<M: Message<Headers: NativeHeaders>>(
        &self,
        started: Instant,
        messages: Vec<KafkaResult<M>>,
    ) -> Vec<KafkaResult<Received<M>>> {
        if messages.is_empty() {
            return Vec::new();
        }
        let received: Vec<KafkaResult<Received<M>>> = messages
            .into_iter()
            .map(|message| message.map(|message| self.receive(message)))
            .collect();
        let client = &self.client;
        let ok = || received.iter().filter_map(|item| item.as_ref().ok());
        let count = ok().count();
        let topic = common(ok().map(|r| r.topic()));
        let partition = common(ok().map(|r| r.partition()));
        let first_error = received.iter().find_map(|item| item.as_ref().err());
        let error_type = (count == 0).then(|| first_error.map(error_type)).flatten();

        let (mut attributes, metric_attributes) = self.operation_attributes(POLL, topic, partition);
        attributes.push(batch_message_count(count));
        let mut start = SpanStart::new(
            SpanKind::Client,
            messaging::span_name(KAFKA_OPERATION_POLL, topic).into_owned(),
        )
        .attributes(attributes)
        .started_at(started);
        for message in ok().filter(|r| r.context.span().span_context().is_valid()) {
            start = start.link(self.link(message, topic.is_none()));
        }
        let span = client.kafka.instrumentation().start(start);
        self.end_operation(span, metric_attributes, error_type);
        received
    }

    /// The span and duration attributes of a `poll` or `commit` on `topic` and `partition`
    /// (when known), with room for one more span attribute.
    fn operation_attributes(
        &self,
        operation: Operation,
        topic: Option<&str>,
        partition: Option<i32>,
    ) -> (Vec<KeyValue>, Vec<KeyValue>) {
        let mut attributes = self.client.span_attributes(operation, 3);
        let mut metric_attributes = self.client.metric_attributes(operation, true, 2);
        if let Some(topic) = topic {
            attributes.push(destination(topic));
            metric_attributes.push(destination(topic));
        }
        if let Some(partition) = partition {
            attributes.push(partition_id(partition));
            metric_attributes.push(partition_id(partition));
        }
        (attributes, metric_attributes)
    }

    /// Ends a `poll` or `commit` span, failed when `error_type` is set, and records its duration.
    fn end_operation(
        &self,
        span: ActiveSpan,
        metric_attributes: Vec<KeyValue>,
        error_type: Option<String>,
    ) {
        if let Some(error_type) = &error_type {
            span.set_error(error_type.clone());
        }
        let elapsed = span.elapsed();
        span.end();
        self.client
            .record_duration(elapsed, metric_attributes, error_type.as_deref());
    }

    /// A link to a message's creation context, with its per-message attributes.
    fn link<M: Message>(&self, received: &Received<M>, with_topic: bool) -> Link {
        let message = &received.message;
        let mut attributes = Vec::with_capacity(4);
        if with_topic {
            attributes.push(destination(message.topic()));
        }
        attributes.push(partition_id(message.partition()));
        self.client.push_offset(message.offset(), &mut attributes);
        if self.client.kafka.records_message_keys()
            && let Some(key) = message.key().and_then(|key| std::str::from_utf8(key).ok())
        {
            self.client.kafka.names().push(
                messaging::MessagingAttributeNames::KAFKA_MESSAGE_KEY,
                key.to_owned(),
                &mut attributes,
            );
        }
        Link::new(
            received.context.span().span_context().clone(),
            attributes,
            0,
        )
    }

    /// Commits inside a `commit {topic}` CLIENT span (child of the current context).
    fn traced_commit(
        &self,
        topic: Option<&str>,
        partition: Option<i32>,
        offset: Option<i64>,
        commit: impl FnOnce() -> KafkaResult<()>,
    ) -> KafkaResult<()> {
        let client = &self.client;
        let (mut attributes, metric_attributes) =
            self.operation_attributes(COMMIT, topic, partition);
        if let Some(offset) = offset {
            client.push_offset(offset, &mut attributes);
        }
        let span = client.kafka.instrumentation().start(
            SpanStart::new(
                SpanKind::Client,
                messaging::span_name(KAFKA_OPERATION_COMMIT, topic).into_owned(),
            )
            .attributes(attributes),
        );
        let result = span.in_scope(commit);
        let error_type = result.as_ref().err().map(error_type);
        self.end_operation(span, metric_attributes, error_type);
        result
    }

    /// [`Consumer::commit`] in a `commit` span; named after the topic when the list has one.
    pub fn commit<C>(&self, offsets: &TopicPartitionList, mode: CommitMode) -> KafkaResult<()>
    where
        C: ConsumerContext,
        T: Consumer<C>,
    {
        let elements = offsets.elements();
        let topic = common(elements.iter().map(|element| element.topic()));
        let partition = match elements.as_slice() {
            [only] => Some(only.partition()),
            _ => None,
        };
        self.traced_commit(topic, partition, None, || {
            self.consumer.commit(offsets, mode)
        })
    }

    /// [`Consumer::commit_message`] in a `commit {topic}` span with the message's partition and
    /// offset.
    pub fn commit_message<C>(
        &self,
        message: &BorrowedMessage<'_>,
        mode: CommitMode,
    ) -> KafkaResult<()>
    where
        C: ConsumerContext,
        T: Consumer<C>,
    {
        self.traced_commit(
            Some(message.topic()),
            Some(message.partition()),
            Some(message.offset()),
            || self.consumer.commit_message(message, mode),
        )
    }

    /// [`Consumer::commit_consumer_state`] in a `commit` span.
    pub fn commit_consumer_state<C>(&self, mode: CommitMode) -> KafkaResult<()>
    where
        C: ConsumerContext,
        T: Consumer<C>,
    {
        self.traced_commit(None, None, None, || {
            self.consumer.commit_consumer_state(mode)
        })
    }
}

/// The value every item shares, or `None` (also for no items).
fn common<V: PartialEq>(mut values: impl Iterator<Item = V>) -> Option<V> {
    let first = values.next()?;
    values.all(|value| value == first).then_some(first)
}

impl<C: ConsumerContext> TracedConsumer<BaseConsumer<C>> {
    /// Polls up to `max_messages` within `timeout` and records them as one `poll {topic}` span
    /// (see [`recv_batch`](TracedConsumer::recv_batch) for what the span holds). Errors are
    /// returned in place, like [`BaseConsumer::poll`] returns them.
    pub fn poll_batch(
        &self,
        max_messages: usize,
        timeout: Duration,
    ) -> Vec<KafkaResult<Received<BorrowedMessage<'_>>>> {
        let started = Instant::now();
        let deadline = started + timeout;
        let mut messages = Vec::new();
        while messages.len() < max_messages {
            match self
                .consumer
                .poll(deadline.saturating_duration_since(Instant::now()))
            {
                Some(message) => messages.push(message),
                None => break,
            }
        }
        self.record_poll(started, messages)
    }
}

impl<C, R> TracedConsumer<StreamConsumer<C, R>>
where
    C: ConsumerContext + 'static,
    R: AsyncRuntime,
{
    /// The consumer's message stream, each message paired with its creation context.
    pub fn stream(&self) -> TracedStream<'_, C, StreamConsumer<C, R>> {
        TracedStream::new(self, self.consumer.stream())
    }

    /// Receives one message with its creation context.
    pub async fn recv(&self) -> KafkaResult<Received<BorrowedMessage<'_>>> {
        self.consumer
            .recv()
            .await
            .map(|message| self.receive(message))
    }

    /// Waits for up to `max_messages` for at most `timeout` and records them as one
    /// `poll {topic}` CLIENT span, which:
    ///
    /// - starts when the call starts (backdated: the messages are only known at the end) and
    ///   is a child of the current context;
    /// - has `messaging.batch.message_count`, the topic and partition when all messages share
    ///   them, and one link per message that carried a context, with the message's partition,
    ///   offset (and key when opted in, topic when the batch spans several) as link attributes;
    /// - is an error only when the poll returned errors and no message.
    ///
    /// A poll that returns nothing records nothing (idle consumers would otherwise emit a
    /// span per timeout). Errors are returned in place.
    pub async fn recv_batch(
        &self,
        max_messages: usize,
        timeout: Duration,
    ) -> Vec<KafkaResult<Received<BorrowedMessage<'_>>>> {
        let started = Instant::now();
        let deadline = R::delay_for(timeout);
        let mut deadline = std::pin::pin!(deadline);
        let mut messages = Vec::new();
        while messages.len() < max_messages {
            let next = std::pin::pin!(self.consumer.recv());
            match futures_util::future::select(next, deadline.as_mut()).await {
                futures_util::future::Either::Left((message, _)) => messages.push(message),
                futures_util::future::Either::Right(_) => break,
            }
        }
        self.record_poll(started, messages)
    }
}
