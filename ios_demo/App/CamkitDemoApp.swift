// SwiftUI (iOS 17 SDK): App, WindowGroup, onOpenURL (the camkit:// scheme of Info.plist's
// CFBundleURLTypes, project.yml), task.
import SwiftUI

/// The camkit iOS app: runs camkit Core ML artifacts on the iPhone (photo screen), measures them
/// (benchmark screen), and does both without a tap when launched with `-camkitManifest ...` or
/// opened with `camkit://benchmark?...` (App/Headless.swift).
@main
struct CamkitDemoApp: App {
    @StateObject private var store = ModelStore()
    @StateObject private var headless = HeadlessController()

    var body: some Scene {
        WindowGroup {
            ContentView()
                .environmentObject(store)
                .environmentObject(headless)
                .task { headless.startFromLaunchArguments() }
                .onOpenURL { url in headless.start(url: url) }
        }
    }
}
