/// Adapts today's ``UpstreamExchange`` to the connection's delegate protocol (a stopgap until
/// the exchange is rebuilt on ``UpstreamConnectionLoss`` and ``PoolLease``).
extension UpstreamExchange: UpstreamConnectionDelegate {
    func connectionDidWriteRequest() {}

    func connectionDidClose(_ loss: UpstreamConnectionLoss) {
        connectionDidFail(UpstreamFailure(kind: .closed, detail: loss.detail, responseStarted: false))
    }
}
