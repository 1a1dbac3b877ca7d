import Atomics
import NIOCore

/// The number of open client connections and its cap (`--max-connections`), readable from
/// any thread: `current` is the `sluice_connections_open` gauge, `rejected` a counter of
/// connections closed at once because they arrived past the cap.
public final class OpenConnections: Sendable {
    /// `--max-connections`.
    public let limit: Int
    private let count = ManagedAtomic<Int>(0)
    private let rejectedCount = ManagedAtomic<Int>(0)

    /// - Parameter limit: the most client connections held open at once (at least 1).
    public init(limit: Int = 4096) {
        self.limit = max(1, limit)
    }

    /// Connections open now.
    public var current: Int { count.load(ordering: .relaxed) }

    /// Connections closed at once because they were accepted past the cap.
    public var rejected: Int { rejectedCount.load(ordering: .relaxed) }

    /// Takes a slot; false (and nothing taken) when all are in use.
    func tryOpen() -> Bool {
        var current = count.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = count.weakCompareExchange(
                expected: current, desired: current + 1, ordering: .relaxed
            )
            if exchanged { return true }
            current = original
        }
        rejectedCount.wrappingIncrement(ordering: .relaxed)
        return false
    }

    /// Frees a slot; returns how many are open afterwards.
    func close() -> Int {
        count.wrappingDecrementThenLoad(ordering: .relaxed)
    }
}

/// Caps open client connections: on the listening (server) channel, counts each accepted
/// child until its `closeFuture`, and at the cap stops accepting by holding back the
/// server channel's `read()` (the pattern of NIO's `AcceptBackoffHandler`) until a
/// connection closes.
///
/// Why pause rather than accept-and-close: new connections then wait in the kernel's
/// listen backlog (bounded by `ChannelOptions.backlog`) and are served, in order, as soon
/// as a slot frees; no file descriptor, pipeline or memory is spent on them meanwhile.
/// Clients holding sockets open to exhaust the cap are evicted by the request-head and
/// keep-alive timeouts, which free their slots. Accepting and closing at once would turn
/// a short burst of a real app's connections into errors, and burn an accept, a pipeline
/// set-up and a close per attempt while a hostile client retries in a loop. The one
/// exception: one read of the server socket can accept several connections
/// (`maxMessagesPerRead`) before the pause takes effect; those past the cap are closed at
/// once, so the open count never exceeds the cap.
///
/// Place: `ServerBootstrap.serverChannelInitializer`, e.g.
/// `channel.pipeline.syncOperations.addHandler(ConnectionLimiter(connections: open))`
/// (next to the quiescing handler; order between the two does not matter).
final class ConnectionLimiter: ChannelDuplexHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel
    typealias OutboundIn = Never

    private let connections: OpenConnections
    /// A `read()` held back because the cap was reached.
    private var readHeld = false
    /// Set (any thread) when a read is held, so closing children hop to this loop only then.
    private let waitingForSlot = ManagedAtomic<Bool>(false)
    private var context: ChannelHandlerContext?

    /// - Parameter connections: the process-wide count and cap, shared by every listener.
    init(connections: OpenConnections) {
        self.connections = connections
    }

    /// Whether accepting is paused now (for tests).
    var isPaused: Bool { readHeld }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        guard connections.tryOpen() else {
            // Accepted in the same read as the one that reached the cap: let the acceptor
            // register it, then close it before it serves anything.
            context.fireChannelRead(data)
            child.eventLoop.execute { child.close(promise: nil) }
            return
        }
        let connections = self.connections
        let waiting = self.waitingForSlot
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let serverLoop = context.eventLoop
        child.closeFuture.whenComplete { _ in
            _ = connections.close()
            if waiting.load(ordering: .acquiring) {
                serverLoop.execute { loopBound.value.slotFreed() }
            }
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        if connections.current >= connections.limit {
            readHeld = true
            waitingForSlot.store(true, ordering: .releasing)
            // A child may have closed between the check and the flag: check again.
            if connections.current < connections.limit { slotFreed() }
            return
        }
        context.read()
    }

    private func slotFreed() {
        guard readHeld, connections.current < connections.limit, let context else { return }
        readHeld = false
        waitingForSlot.store(false, ordering: .releasing)
        context.read()
    }
}
