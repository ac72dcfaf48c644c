// SwiftUI (iOS 17 SDK): TabView, safeAreaInset.
import SwiftUI

/// The app's tabs; a headless run shows its status above them.
struct ContentView: View {
    @EnvironmentObject private var headless: HeadlessController

    var body: some View {
        TabView {
            PhotoScreen().tabItem { Label("Photo", systemImage: "photo") }
            BenchmarkScreen().tabItem { Label("Benchmark", systemImage: "speedometer") }
            ModelsScreen().tabItem { Label("Models", systemImage: "shippingbox") }
        }
        .safeAreaInset(edge: .top) {
            if let status = headless.status {
                HStack {
                    if headless.running { ProgressView() }
                    Text(status).font(.footnote)
                }
                .frame(maxWidth: .infinity)
                .padding(8)
                .background(.thinMaterial)
            }
        }
    }
}
