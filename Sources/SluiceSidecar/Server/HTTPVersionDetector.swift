import NIOCore

/// Tells an HTTP/2 prior-knowledge connection from HTTP/1.1 by its first bytes, then
/// installs the matching pipeline and steps aside.
///
/// swift-nio-http2 has no detector for cleartext HTTP/2 with prior knowledge, so this
/// buffers only until the bytes either diverge from the HTTP/2 connection preface or
/// match all 24 of it; an HTTP/1.1 request line diverges at its first byte.
final class HTTPVersionDetector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    private let configureHTTP1: (ChannelPipeline.SynchronousOperations) throws -> Void
    private let configureHTTP2: (ChannelPipeline.SynchronousOperations) throws -> Void
    private var buffered: ByteBuffer?

    init(
        http1: @escaping (ChannelPipeline.SynchronousOperations) throws -> Void,
        http2: @escaping (ChannelPipeline.SynchronousOperations) throws -> Void
    ) {
        self.configureHTTP1 = http1
        self.configureHTTP2 = http2
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        if var existing = buffered {
            existing.writeBuffer(&chunk)
            buffered = existing
        } else {
            buffered = chunk
        }
        guard let bytes = buffered else { return }
        let decision = bytes.withUnsafeReadableBytes { raw -> Bool? in
            let count = min(raw.count, HTTPVersionDetector.preface.count)
            for index in 0..<count where raw[index] != HTTPVersionDetector.preface[index] {
                return false
            }
            return raw.count >= HTTPVersionDetector.preface.count ? true : nil
        }
        guard let isHTTP2 = decision else { return }
        do {
            let sync = context.pipeline.syncOperations
            if isHTTP2 { try configureHTTP2(sync) } else { try configureHTTP1(sync) }
        } catch {
            context.close(promise: nil)
            return
        }
        buffered = nil
        context.fireChannelRead(wrapInboundOut(bytes))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
