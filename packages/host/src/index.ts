export { AgentClient, AgentEndpoint } from './agent/client';
