//! The instrumented message stream of a [`StreamConsumer`](rdkafka::consumer::StreamConsumer).

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures_core::Stream;
use rdkafka::consumer::ConsumerContext;
use rdkafka::consumer::stream_consumer::MessageStream;
use rdkafka::error::KafkaResult;
use rdkafka::message::BorrowedMessage;

use crate::consumer::{Received, TracedConsumer};

pin_project_lite::pin_project! {
    /// A [`MessageStream`] that yields each message with its creation context
    /// ([`Received`]) and counts it in `messaging.client.consumed.messages`; built by
    /// [`TracedConsumer::stream`].
    ///
    /// It opens no span itself and attaches no context: a context guard held across the
    /// consumer's `.await` would leak into whatever the task runs next. Pass each message to
    /// [`TracedConsumer::process_received`] to run the handler in a `process` span.
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use opentelemetry::trace::TraceContextExt;
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
    /// let mut messages = consumer.stream();
    /// if let Some(received) = messages.next().await {
    ///     let received = received?;
    ///     assert!(received.context().has_active_span());
    ///     consumer
    ///         .process_received(&received, async { Ok::<_, std::io::Error>(()) })
    ///         .await?;
    /// }
    /// # Ok(()) }
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct TracedStream<'a, C, T>
    where
        C: ConsumerContext,
        C: 'static,
    {
        #[pin]
        inner: MessageStream<'a, C>,
        consumer: &'a TracedConsumer<T>,
    }
}

impl<'a, C: ConsumerContext + 'static, T> TracedStream<'a, C, T> {
    pub(crate) fn new(consumer: &'a TracedConsumer<T>, inner: MessageStream<'a, C>) -> Self {
        Self { inner, consumer }
    }
}

impl<C: ConsumerContext + 'static, T> std::fmt::Debug for TracedStream<'_, C, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedStream").finish_non_exhaustive()
    }
}

impl<'a, C: ConsumerContext + 'static, T> Stream for TracedStream<'a, C, T> {
    type Item = KafkaResult<Received<BorrowedMessage<'a>>>;

    fn poll_next(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let consumer = *this.consumer;
        this.inner
            .poll_next(task)
            .map(|item| item.map(|message| message.map(|message| consumer.receive(message))))
    }
}
