import NIOConcurrencyHelpers
import NIOCore

/// State shared by all connections of one provider.
final class MockShared: Sendable {
    let configuration: MockProviderConfiguration
    let recorder = StatsRecorder()
    /// Scripted faults by model (`POST /mock/faults`).
    let faults = NIOLockedValueBox(FaultBook())

    init(configuration: MockProviderConfiguration) {
        self.configuration = configuration
    }
}

/// Marks the front of each connection's pipeline (before TLS): closing from here reaches the
/// socket directly, so an abrupt reset skips the TLS close_notify.
final class MockFrontMarker: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    static let name = "sluice-mock-front"
}

@available(*, unavailable)
extension MockFrontMarker: Sendable {}
