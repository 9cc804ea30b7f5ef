"""OpenInference's LangChain instrumentor, set up as its README says, over a retrieval chain
with ``ChatOpenAI`` (plain and streamed), a tool-calling round and a call that fails."""

from __future__ import annotations

import os

from _common import MISSING_MODEL, MODEL, QUESTION, SYSTEM, Session
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.messages import HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from openinference.instrumentation.langchain import LangChainInstrumentor

session = Session("conformance-openinference-langchain")
LangChainInstrumentor().instrument(tracer_provider=session.provider)


class FactsRetriever(BaseRetriever):
    """Two fixed documents, whatever the question."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [
            Document(page_content="Paris is the capital of France.", metadata={"id": "d1"}),
            Document(page_content="France is in Europe.", metadata={"id": "d2"}),
        ]


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


def chat_model(model: str = MODEL) -> ChatOpenAI:
    return ChatOpenAI(
        model=model, base_url=os.environ["OPENAI_BASE_URL"], max_retries=0, stream_usage=True
    )


prompt = ChatPromptTemplate.from_messages(
    [("system", SYSTEM + " Context: {context}"), ("human", "{question}")]
)
rag = (
    {
        "context": FactsRetriever() | (lambda docs: " ".join(d.page_content for d in docs)),
        "question": RunnablePassthrough(),
    }
    | prompt
    | chat_model()
    | StrOutputParser()
)
session.record("chain", lambda: rag.invoke(QUESTION))
streamed = session.record("stream", lambda: "".join(rag.stream(QUESTION)))


def tool_round(question: str) -> str:
    model = chat_model().bind_tools([get_weather])
    messages = [HumanMessage(question)]
    answer = model.invoke(messages)
    messages.append(answer)
    for call in answer.tool_calls:
        messages.append(get_weather.invoke(call))
    return str(model.invoke(messages).content)


# one trace: the round runs under a chain span (LangChain passes the run down by context)
agent = RunnableLambda(tool_round).with_config(run_name="weather_agent")
session.record("tool_call", lambda: agent.invoke("What is the weather in Paris?"))
failing = prompt | chat_model(MISSING_MODEL)
session.record("error", lambda: failing.invoke({"context": "", "question": QUESTION}), fails=True)
session.finish(streamed=streamed)
