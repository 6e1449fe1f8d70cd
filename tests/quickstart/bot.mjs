// Fluxer's documented quickstart bot (fluxer_docs quickstart), unchanged in logic. Differences:
// - it connects to FLUXER_API (e.g. http://127.0.0.1:8080/api) instead of https://api.fluxer.app, with the
//   token from FLUXER_TOKEN;
// - it also passes `rest` to the WebSocketManager: the docs' `fetchGatewayInformation` option exists only in
//   @discordjs/ws 3.0 dev builds (Node >= 24); the stable 2.x line, which runs on this machine's Node 20,
//   fetches GET /gateway/bot through `rest` instead. Either way the same REST client asks the same route.
import { Client, GatewayDispatchEvents, Routes } from "@discordjs/core";
import { REST } from "@discordjs/rest";
import { WebSocketManager } from "@discordjs/ws";

const FLUXER_TOKEN = process.env.FLUXER_TOKEN;

const rest = new REST({
	api: process.env.FLUXER_API,
	version: "1",
}).setToken(FLUXER_TOKEN);

const gateway = new WebSocketManager({
	token: FLUXER_TOKEN,
	intents: 0,
	fetchGatewayInformation: () => rest.get(Routes.gatewayBot()),
	rest,
	version: "1",
});

export const client = new Client({ rest, gateway });

client.on(GatewayDispatchEvents.MessageCreate, async ({ api, data }) => {
	if (data.content === "ping") {
		await api.channels.createMessage(data.channel_id, { content: "pong" });
	}
});

client.on(GatewayDispatchEvents.Ready, ({ data }) => {
	console.log(`Logged in as ${data.user.username}#${data.user.discriminator}`);
	console.log("READY");
});

gateway.connect();
