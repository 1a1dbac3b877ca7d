import Foundation
import NIOCore
import NIOHTTP1
import SluiceWire

/// The `/mock/...` control endpoints: stats, reset, readiness and scripted faults.
extension MockHTTPHandler {
    func handleControl(context: ChannelHandlerContext, head: HTTPRequestHead, path: String, body: ByteBuffer?) {
        switch (path, head.method) {
        case ("/mock/stats", _):
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data = (try? encoder.encode(self.recorder.snapshot())) ?? Data("{}".utf8)
            self.writeJSON(context: context, status: .ok, String(decoding: data, as: UTF8.self))
        case ("/mock/reset", _):
            self.recorder.reset()
            self.shared.faults.withLockedValue { $0.clear() }
            self.writeJSON(context: context, status: .ok, "{\"ok\":true}")
        case ("/mock/ready", _), ("/mock/health", _):
            self.writeJSON(context: context, status: .ok, "{\"status\":\"ready\"}")
        case ("/mock/faults", .POST), ("/mock/faults", .PUT):
            let data = body.map { Data($0.readableBytesView) } ?? Data()
            do {
                let script = try MockFaultScript.parse(data)
                self.shared.faults.withLockedValue { $0.install(script) }
                self.writeJSON(context: context, status: .ok, self.shared.faults.withLockedValue { $0.json })
            } catch {
                let message = (error as? MockFaultError)?.description ?? "invalid fault script"
                self.writeJSON(context: context, status: .badRequest, "{\"error\":\(JSONText.quoted(message))}")
            }
        case ("/mock/faults", .DELETE):
            self.shared.faults.withLockedValue { $0.clear() }
            self.writeJSON(context: context, status: .ok, "{\"scripts\":[]}")
        case ("/mock/faults", .GET):
            self.writeJSON(context: context, status: .ok, self.shared.faults.withLockedValue { $0.json })
        case ("/mock/faults", _):
            self.writeJSON(context: context, status: .methodNotAllowed, "{\"error\":\"use GET, POST or DELETE\"}")
        default:
            self.writeJSON(context: context, status: .notFound, "{\"error\":\"unknown mock endpoint\"}")
        }
    }

    private func writeJSON(context: ChannelHandlerContext, status: HTTPResponseStatus, _ body: String) {
        self.writeResponse(context: context, status: status, contentType: "application/json", body: body)
    }
}
